/**
 * The web server's database: opened, migrated and seeded on first use, once per process (the
 * handle lives on globalThis, so proxy.ts and the routes share it). With PGlite the web server is
 * the single owner of DATA_DIR/pglite. Import `getServerDb` from ./db in routes; proxy.ts imports
 * it from here (its bundle is not a React server bundle, where `server-only` is meant to be used).
 */
import { openDb, pgliteDirFor, sharedDb, type Db } from "../db/client";
import { prepareDb } from "../db/migrate";
import { getEnv } from "./env";

export async function getServerDb(): Promise<Db> {
  const handle = await sharedDb(async () => {
    const env = getEnv();
    const h = await openDb({ databaseUrl: env.DATABASE_URL, pgliteDir: pgliteDirFor(env.DATA_DIR) });
    await prepareDb(h);
    return h;
  });
  return handle.db;
}
