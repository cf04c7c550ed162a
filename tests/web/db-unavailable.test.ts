/**
 * The database down or restarting is a 503 to retry (SERVICE_UNAVAILABLE, Retry-After, a message
 * that says so), never a 500: through the tRPC HTTP entry (server/http/trpc-handler.ts), on a
 * port where nothing listens (the first call opens and migrates the database, as the server
 * does) and on a throwaway Postgres cluster of this test's own that is stopped (its sessions are
 * ended: 57P01 admin_shutdown, then ECONNREFUSED) and started again, with the real worker on the
 * demo model. The shared Postgres is never stopped. Skipped (and said) without Postgres binaries.
 */
import { sql } from "drizzle-orm";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type Db } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { ownerSecret, signOwner } from "../../server/auth/owner-cookie";
import { parseEnv, type Env } from "../../server/env";
import { databaseUnavailable, DATABASE_RETRY_AFTER_S, LoraLandError } from "../../server/errors";
import { handleTRPC } from "../../server/http/trpc-handler";
import { freePort } from "../e2e/browser";
import { startTestWorker, type TestWorker } from "../e2e/playground-harness";
import { findPgBin, ThrowawayPostgres } from "./throwaway-postgres";

const BASE = "http://localhost:3000";
const OWNER = crypto.randomUUID();

function client(db: () => Promise<Db>, env: Env, cookie: string) {
  const call = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    handleTRPC(new Request(`${BASE}/api/trpc/${path}`, { ...init, headers: { host: "localhost:3000", cookie, ...init.headers } }), { db, env });
  return {
    call,
    start: () =>
      call("generate.start", {
        method: "POST",
        headers: { "content-type": "application/json", origin: BASE },
        body: JSON.stringify({ json: { mode: "raw", adapters: [null], prompt: "Hello", params: { max_new_tokens: 2, temperature: 0 } } }),
      }),
    /** a subscription's events (SSE), until it ends */
    stream: async (runId: string) => {
      const res = await call(`generate.stream?input=${encodeURIComponent(JSON.stringify({ json: { runId } }))}`);
      const events: { event?: string; data: string }[] = [];
      if (!res.ok || !res.body) return { status: res.status, headers: res.headers, body: await res.text(), events };
      const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        events.push({ event: value.event, data: value.data });
        if (value.event === "serialized-error" || value.event === "return") break;
      }
      await reader.cancel().catch(() => {});
      return { status: res.status, headers: res.headers, body: "", events };
    },
  };
}

/** A refusal as the tests expect it: 503, Retry-After, the code and a message naming the database. */
async function expectUnavailable(res: Response) {
  const text = await res.text();
  expect(res.status, text).toBe(503);
  expect(res.headers.get("retry-after")).toBe(String(DATABASE_RETRY_AFTER_S));
  const body = JSON.parse(text) as { error: { json: { message: string; data: { code: string; httpStatus: number; retryAfterS?: number } } } };
  expect(body.error.json.data).toMatchObject({ code: "SERVICE_UNAVAILABLE", httpStatus: 503, retryAfterS: DATABASE_RETRY_AFTER_S });
  expect(body.error.json.message).toMatch(/database is not reachable.*retry/);
}

/** A subscription's refusal: its SSE error event has the 503's code, status, Retry-After and message. */
function expectUnavailableEvent(sub: { status: number; events: { event?: string; data: string }[] }) {
  const err = sub.events.find((e) => e.event === "serialized-error");
  expect(err, JSON.stringify(sub)).toBeDefined();
  expect(JSON.parse(err!.data)).toMatchObject({
    json: { message: expect.stringMatching(/database is not reachable/), data: { code: "SERVICE_UNAVAILABLE", httpStatus: 503, retryAfterS: DATABASE_RETRY_AFTER_S } },
  });
}

describe("which errors are the database's", () => {
  it("connection codes from the query layer or a bare socket error; not a fetch failure, not a query's own error", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED", syscall: "connect" });
    const query = (cause: unknown) => Object.assign(new Error("Failed query: select 1\nparams: "), { cause });
    const pg = (code: string) => Object.assign(new Error("terminating connection due to administrator command"), { name: "PostgresError", code });
    for (const e of [socket, query(socket), query(pg("57P01")), pg("57P03"), query(Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" }))]) {
      expect(databaseUnavailable(e), String(e)).toMatchObject({ code: "SERVICE_UNAVAILABLE", retryAfterS: DATABASE_RETRY_AFTER_S });
    }
    // the worker's or the Hub's fetch failing is not the database; nor is a unique violation
    expect(databaseUnavailable(new TypeError("fetch failed", { cause: { ...socket } }))).toBeNull();
    expect(databaseUnavailable(query(pg("23505")))).toBeNull();
    expect(databaseUnavailable(new LoraLandError("NOT_FOUND", "x"))).toBeNull();
    // a file's error is not a socket's
    expect(databaseUnavailable(Object.assign(new Error("ETIMEDOUT: open"), { code: "ETIMEDOUT", syscall: "open" }))).toBeNull();
  });
});

describe("a database on a port where nothing listens", () => {
  let env: Env;
  beforeAll(() => {
    env = parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" });
  });

  it("every call answers 503 with Retry-After (the open and migration fail at the first), the next call tries again", async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    let opens = 0;
    const db = async () => {
      opens++;
      const h = await openDb({ databaseUrl: url, max: 1 });
      try {
        await migrateDb(h);
      } catch (e) {
        await h.close();
        throw e;
      }
      return h.db;
    };
    const c = client(db, env, `owner=${OWNER}.${"A".repeat(43)}`);
    await expectUnavailable(await c.start());
    await expectUnavailable(await c.call("chats.list"));
    // a subscription answers as SSE: its error event carries the same
    expectUnavailableEvent(await c.stream(crypto.randomUUID()));
    expect(opens).toBe(3);
  });
});

const PG_BIN = findPgBin();
if (!PG_BIN) process.stderr.write("\n!!!!! SKIPPING the Postgres restart test: no initdb/pg_ctl (set PG_BIN) !!!!!\n\n");

describe.skipIf(!PG_BIN)("a Postgres of our own, stopped and started again (real worker)", () => {
  let pg: ThrowawayPostgres;
  let worker: TestWorker;
  let handle: Awaited<ReturnType<typeof openDb>>;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    [pg, worker] = await Promise.all([ThrowawayPostgres.create(PG_BIN!), startTestWorker()]);
    handle = await openDb({ databaseUrl: pg.url, max: 4 });
    await migrateDb(handle);
    const env = parseEnv({ INFERENCE_URL: worker.url, DATABASE_URL: pg.url });
    c = client(async () => handle.db, env, `owner=${signOwner(OWNER, await ownerSecret(handle.db))}`);
  });
  afterAll(async () => {
    await handle?.close().catch(() => {});
    pg?.destroy();
    await worker?.stop();
  });

  it("while it is down, generate.start and chats.list answer 503 with Retry-After and generate.stream's error says the same; once it is back, they work", async () => {
    const before = await c.start();
    expect(before.status, await before.clone().text()).toBe(200);
    const { runId } = ((await before.json()) as { result: { data: { json: { runId: string } } } }).result.data.json;

    pg.stop("fast");
    await expectUnavailable(await c.start());
    await expectUnavailable(await c.call("chats.list"));
    // a run this server does not hold is looked up in the database: the error event carries the 503
    expectUnavailableEvent(await c.stream(crypto.randomUUID()));

    pg.start();
    // the pool's connections that saw the shutdown may fail once more (57P01): 503 too, never 500
    const statuses: number[] = [];
    for (;;) {
      const res = await c.start();
      statuses.push(res.status);
      if (res.status !== 503) {
        expect(res.status, await res.text()).toBe(200);
        break;
      }
      await expectUnavailable(res);
      expect(statuses.length).toBeLessThan(20);
    }
    // another pooled connection may still be one that saw the shutdown: a 503 once more, then 200
    let list = await c.call("chats.list");
    for (let i = 0; list.status === 503 && i < 8; i++) {
      await expectUnavailable(list);
      list = await c.call("chats.list");
    }
    expect(list.status, await list.clone().text()).toBe(200);
    // the run started before the stop is there, and so is the one started after
    const chats = ((await list.json()) as { result: { data: { json: { id: string }[] } } }).result.data.json;
    expect(chats.length).toBeGreaterThanOrEqual(2);
    // and no row is left unfinished: the hub's writes that failed while it was down land now
    const unfinished = async () => (await handle.db.execute<{ n: number }>(sql`select count(*)::int as n from generations where status in ('queued', 'streaming')`))[0]!.n;
    await expect.poll(unfinished, { timeout: 60_000, interval: 500 }).toBe(0);
    const [first] = await handle.db.execute<{ status: string }>(sql`select status from generations where run_id = ${runId}`);
    expect(first?.status).toBe("done");
  });
});
