/**
 * What a web server does once at start (instrumentation.ts, and the stream hub on first use): open,
 * migrate and seed the database, and mark interrupted the generations that a server process which
 * is gone left `queued`/`streaming` (killed mid-stream), so no row waits for a later call to be fixed.
 *
 * PGlite admits one process: whatever is unfinished at start was the previous process's.
 * On Postgres several web servers may share the database: each process is an instance with a
 * lease it renews every LEASE_RENEW_MS; every renewal also recovers the rows of instances whose
 * lease ran out (a killed server, or this server's previous process), never a live peer's.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../db/client";
import { markUnfinishedInterrupted, recoverExpiredInstances, renewInstanceLease } from "./db-queries/chats";

/** A lease outlives a few missed renewals (a busy event loop, a slow database) before peers recover its runs. */
export const LEASE_TTL_MS = 15_000;
export const LEASE_RENEW_MS = 5_000;

export interface Instance {
  /** this process's id in web_instances; null on PGlite (one process, no leases) */
  id: string | null;
  /** how many generations were recovered at start */
  recovered: number;
}

/** Whether `db` is a server shared by processes (postgres.js) rather than in-process PGlite. */
export function isSharedDb(db: Db): boolean {
  const client = (db as unknown as { $client?: { unsafe?: unknown } }).$client;
  return typeof client?.unsafe === "function";
}

type Global = typeof globalThis & { __loralandInstances?: WeakMap<Db, Promise<Instance>> };
const g = globalThis as Global;

function report(n: number, what: string) {
  if (n) console.error(`[web] ${n} generation${n === 1 ? "" : "s"} left streaming by ${what} marked interrupted`);
}

/** This process's instance on `db`: registered (lease taken, renewals scheduled) and recovered once. */
export function thisInstance(db: Db): Promise<Instance> {
  const all = (g.__loralandInstances ??= new WeakMap());
  let p = all.get(db);
  if (!p) {
    p = (async (): Promise<Instance> => {
      if (!isSharedDb(db)) {
        const n = await markUnfinishedInterrupted({ db });
        report(n, "the previous process");
        return { id: null, recovered: n };
      }
      const id = randomUUID();
      // the lease first: from here on no peer recovers this process's runs
      await renewInstanceLease({ db, id, ttlMs: LEASE_TTL_MS });
      const n = await recoverExpiredInstances({ db });
      report(n, "a server that is gone");
      setInterval(() => {
        void (async () => {
          await renewInstanceLease({ db, id, ttlMs: LEASE_TTL_MS });
          report(await recoverExpiredInstances({ db }), "a server that is gone");
        })().catch((e: unknown) => console.error("[web] renewing this server's lease failed:", e instanceof Error ? e.message : e));
      }, LEASE_RENEW_MS).unref();
      return { id, recovered: n };
    })();
    p.catch(() => all.delete(db)); // the database may be down: the next use retries
    all.set(db, p);
  }
  return p;
}

export async function recoverAtStart(): Promise<number> {
  const { getServerDb } = await import("./db-handle");
  return (await thisInstance(await getServerDb())).recovered;
}
