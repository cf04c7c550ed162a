/**
 * The database: postgres.js when DATABASE_URL is set, else PGlite (Postgres in WASM) on disk under
 * DATA_DIR/pglite. PGlite admits one process, so the web server is the single owner of that
 * directory and keeps ONE handle per process (on globalThis: Next may load this module more than
 * once in one server).
 */
import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import type { PgDatabase } from "drizzle-orm/pg-core";
import postgres from "postgres";
import * as schema from "./schema";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = PgDatabase<any, typeof schema>;

export interface DbHandle {
  db: Db;
  driver: "pglite" | "postgres";
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** postgres:// URL; unset → PGlite */
  databaseUrl?: string;
  /** PGlite directory; unset → in-memory (tests) */
  pgliteDir?: string;
  /** postgres pool size */
  max?: number;
}

export async function openDb(opts: OpenDbOptions): Promise<DbHandle> {
  if (opts.databaseUrl) {
    const client = postgres(opts.databaseUrl, { max: opts.max ?? 10, onnotice: () => {} });
    const db = drizzlePostgres(client, { schema }) as unknown as Db;
    return { db, driver: "postgres", close: () => client.end({ timeout: 5 }) };
  }
  if (opts.pgliteDir) fs.mkdirSync(opts.pgliteDir, { recursive: true });
  const client = await PGlite.create(opts.pgliteDir);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return { db, driver: "pglite", close: () => client.close() };
}

/** Where the web app keeps its PGlite data for a given DATA_DIR. */
export function pgliteDirFor(dataDir: string): string {
  return path.join(/*turbopackIgnore: true*/ dataDir, "pglite");
}

type Global = typeof globalThis & { __loralandDb?: Promise<DbHandle> };

/**
 * The server's handle, opened, migrated and seeded once per process. `prepare` runs the
 * migrations and seed (passed in so this module stays free of file-reading code).
 */
export function sharedDb(open: () => Promise<DbHandle>): Promise<DbHandle> {
  const g = globalThis as Global;
  g.__loralandDb ??= open().catch((err) => {
    g.__loralandDb = undefined; // let the next request retry
    throw err;
  });
  return g.__loralandDb;
}
