/**
 * What a web server does once at start (instrumentation.ts, and the stream hub on first use): open,
 * migrate and seed the database, and mark interrupted the generations that a server process which
 * is gone left `queued`/`streaming` (killed mid-stream), so no row waits for a later call to be fixed.
 *
 * PGlite admits one process: whatever is unfinished at start was the previous process's.
 * On Postgres several web servers may share the database: each process is an instance with a
 * lease it renews every LEASE_RENEW_MS; every renewal also recovers the rows of instances whose
 * lease ran out (a killed server, or this server's previous process), never a live peer's. A
 * server restarted on the same host and DATA_DIR recovers its previous process's rows at once:
 * each process notes its id and pid under DATA_DIR/web-instances, and a pid that is gone on this
 * host cannot be streaming.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Db } from "../db/client";
import { markUnfinishedInterrupted, recoverExpiredInstances, recoverInstance, renewInstanceLease } from "./db-queries/chats";

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

interface Previous {
  id: string;
  pid: number;
  host: string;
}

/** Where the server processes on this DATA_DIR note their instance ids, one file each. */
const instancesDir = (dataDir: string) => path.join(/*turbopackIgnore: true*/ dataDir, "web-instances");

function readPrevious(file: string): Previous | null {
  try {
    const p = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Previous>;
    return typeof p.id === "string" && typeof p.pid === "number" && typeof p.host === "string" ? (p as Previous) : null;
  } catch {
    return null;
  }
}

/**
 * Is the process that wrote `p` certainly gone: this host, and no process has its pid? (Our own
 * pid counts as alive: in containers sharing a volume every server may be pid 1; the lease decides.)
 */
function certainlyGone(p: Previous): boolean {
  if (p.host !== os.hostname() || p.pid === process.pid) return false;
  try {
    process.kill(p.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * This process's instance on `db`: registered (lease taken, renewals scheduled) and recovered
 * once. `dataDir`: where the previous process of this server left its id (none in tests).
 */
export function thisInstance(db: Db, dataDir?: string): Promise<Instance> {
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
      let n = 0;
      if (dataDir) {
        // earlier processes on this DATA_DIR (this server's previous one, or a neighbour's) that are gone
        const dir = instancesDir(dataDir);
        fs.mkdirSync(dir, { recursive: true });
        for (const name of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
          const previous = readPrevious(path.join(dir, name));
          if (!previous || !certainlyGone(previous)) continue;
          n += await recoverInstance({ db, id: previous.id });
          fs.rmSync(path.join(dir, name), { force: true });
        }
        fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ id, pid: process.pid, host: os.hostname() } satisfies Previous));
      }
      n += await recoverExpiredInstances({ db });
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
  const { getEnv } = await import("./env");
  const db = await getServerDb();
  const recovered = (await thisInstance(db, getEnv().DATA_DIR)).recovered;
  // training runs a previous process left running resume from their checkpoints; queued ones wait their turn
  const { getTrainManager } = await import("./train/manager");
  getTrainManager(db, getEnv());
  return recovered;
}
