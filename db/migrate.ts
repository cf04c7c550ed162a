/**
 * Applies the drizzle-kit migrations in db/migrations with drizzle's own migrators (one per
 * driver), then seeds the catalog. Run by `npm start` before the servers and by the server on first use.
 */
import path from "node:path";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import type { PgliteDatabase } from "drizzle-orm/pglite";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { DbHandle } from "./client";
import { seedCatalog } from "./seed";

export function migrationsFolder(root = process.cwd()): string {
  return path.join(/*turbopackIgnore: true*/ root, "db", "migrations");
}

export async function migrateDb(handle: DbHandle, root = process.cwd()): Promise<void> {
  const config = { migrationsFolder: migrationsFolder(root) };
  if (handle.driver === "pglite") await migratePglite(handle.db as unknown as PgliteDatabase, config);
  else await migratePostgres(handle.db as unknown as PostgresJsDatabase, config);
}

/** Migrate and seed: what every start does (both are idempotent). */
export async function prepareDb(handle: DbHandle, root = process.cwd()): Promise<void> {
  await migrateDb(handle, root);
  await seedCatalog(handle.db, { root });
}
