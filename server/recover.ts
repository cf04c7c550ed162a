/**
 * What a web server does once at start (instrumentation.ts): open, migrate and seed the database,
 * and mark the generations a previous process left `queued`/`streaming` (it was killed mid-stream)
 * as interrupted, so no row waits for the next generate call to be fixed.
 */
import { markUnfinishedInterrupted } from "./db-queries/chats";
import { getServerDb } from "./db-handle";

export async function recoverAtStart(): Promise<number> {
  const n = await markUnfinishedInterrupted({ db: await getServerDb() });
  if (n) console.error(`[web] ${n} generation${n === 1 ? "" : "s"} left streaming by the previous process marked interrupted`);
  return n;
}
