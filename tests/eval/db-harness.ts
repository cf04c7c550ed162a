/**
 * Throwaway databases for the eval tests: in-memory PGlite always, and a fresh schema on the
 * Postgres server when DATABASE_URL is set. Tables come from the whole Drizzle schema through
 * drizzle-kit's SQL generator; the catalog is seeded by the real seed.
 */
import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { Db } from "../../db/client";
import * as schema from "../../db/schema";
import { seedCatalog } from "../../db/seed";

async function schemaSql(): Promise<string[]> {
  const { generateDrizzleJson, generateMigration } = await import("drizzle-kit/api");
  const cur = generateDrizzleJson(schema as unknown as Record<string, unknown>);
  // unqualified, so a per-test search_path decides where the tables go
  return (await generateMigration(generateDrizzleJson({}), cur)).map((s) => s.replaceAll('"public".', ""));
}

export interface TestDb {
  name: "pglite" | "postgres";
  db: Db;
  close(): Promise<void>;
}

export async function openPglite(): Promise<TestDb> {
  const client = new PGlite();
  for (const stmt of await schemaSql()) await client.exec(stmt);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  await seedCatalog(db, { root: process.cwd() });
  return { name: "pglite", db, close: () => client.close() };
}

export async function openPostgres(url: string): Promise<TestDb> {
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema ${name}`);
  const client = postgres(url, { max: 4, onnotice: () => {}, connection: { search_path: name } });
  for (const stmt of await schemaSql()) await client.unsafe(stmt);
  const db = drizzlePostgres(client, { schema }) as unknown as Db;
  await seedCatalog(db, { root: process.cwd() });
  return {
    name: "postgres",
    db,
    close: async () => {
      await client.end();
      await admin.unsafe(`drop schema ${name} cascade`);
      await admin.end();
    },
  };
}

/** PGlite, plus Postgres when DATABASE_URL is set. */
export const databases: { name: string; open: () => Promise<TestDb> }[] = [
  { name: "pglite", open: () => openPglite() },
  ...(process.env.DATABASE_URL ? [{ name: "postgres", open: () => openPostgres(process.env.DATABASE_URL!) }] : []),
];
