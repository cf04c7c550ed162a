/**
 * Fresh, migrated databases for the catalog tests, with the project's real migrations
 * (db/migrations, applied by db/migrate.ts): in-memory PGlite always, and a throwaway database on
 * the Postgres server when DATABASE_URL is set.
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";

export interface TestDatabase extends DbHandle {
  name: "pglite" | "postgres";
}

export async function openMigratedPglite(dir?: string): Promise<TestDatabase> {
  const h = await openDb({ pgliteDir: dir });
  await migrateDb(h);
  return { ...h, name: "pglite" };
}

export async function openMigratedPostgres(url: string): Promise<TestDatabase> {
  const dbName = `t_catalog_${randomBytes(5).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  const h = await openDb({ databaseUrl: u.toString(), max: 4 });
  await migrateDb(h);
  return {
    ...h,
    name: "postgres",
    close: async () => {
      await h.close();
      await admin.unsafe(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    },
  };
}

/** Every driver the DB tests iterate over: PGlite, plus Postgres when DATABASE_URL is set. */
export const drivers: { name: "pglite" | "postgres"; open: () => Promise<TestDatabase> }[] = [
  { name: "pglite", open: () => openMigratedPglite() },
  ...(process.env.DATABASE_URL ? [{ name: "postgres" as const, open: () => openMigratedPostgres(process.env.DATABASE_URL!) }] : []),
];
