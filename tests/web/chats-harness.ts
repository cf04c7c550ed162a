/**
 * Throwaway databases for the history/share tests: in-memory PGlite always, and a fresh schema on
 * the Postgres server when DATABASE_URL is set. The tables are created from the Drizzle schema with
 * drizzle-kit's own SQL generator (the same DDL `npm run db:generate` writes).
 */
import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as chatSchema from "../../db/schema/chats";
import type { Db } from "../../server/db-queries/chats";

async function schemaSql(): Promise<string[]> {
  const { generateDrizzleJson, generateMigration } = await import("drizzle-kit/api");
  const empty = generateDrizzleJson({});
  const cur = generateDrizzleJson(chatSchema as unknown as Record<string, unknown>);
  // unqualified, so a per-test search_path decides where the tables go
  return (await generateMigration(empty, cur)).map((s) => s.replaceAll('"public".', ""));
}

export interface TestDb {
  name: "pglite" | "postgres";
  db: Db;
  close(): Promise<void>;
}

export async function openPglite(dataDir?: string): Promise<TestDb> {
  const client = new PGlite(dataDir);
  const db = drizzlePglite(client) as unknown as Db;
  const { rows } = await client.query<{ n: number }>(
    "select count(*)::int as n from information_schema.tables where table_name = 'chats'",
  );
  if (rows[0]!.n === 0) for (const stmt of await schemaSql()) await client.exec(stmt);
  return { name: "pglite", db, close: () => client.close() };
}

export async function openPostgres(url: string): Promise<TestDb> {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema ${schema}`);
  const client = postgres(url, { max: 4, onnotice: () => {}, connection: { search_path: schema } });
  for (const stmt of await schemaSql()) await client.unsafe(stmt);
  const db = drizzlePostgres(client) as unknown as Db;
  return {
    name: "postgres",
    db,
    close: async () => {
      await client.end();
      await admin.unsafe(`drop schema ${schema} cascade`);
      await admin.end();
    },
  };
}

/** The databases every query test runs on: PGlite, plus Postgres when DATABASE_URL is set. */
export const databases: { name: string; open: () => Promise<TestDb> }[] = [
  { name: "pglite", open: () => openPglite() },
  ...(process.env.DATABASE_URL ? [{ name: "postgres", open: () => openPostgres(process.env.DATABASE_URL!) }] : []),
];
