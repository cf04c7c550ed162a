/**
 * Two production web servers (scripts/lib/web-server.mjs, as `npm start` runs them) on ONE
 * Postgres (DATABASE_URL, a throwaway database on that server), streaming from the real worker on
 * the demo model:
 * - restarting server B leaves server A's live stream alone (B recovers only runs of instances
 *   whose lease ran out): an audit trigger records every status the row ever had, and the worker
 *   is paused (SIGSTOP) from before the run starts, so it is unfinished whatever the machine's speed;
 * - a server killed with SIGKILL and restarted on its DATA_DIR marks its own unfinished run
 *   interrupted at start (its previous process's pid is gone), not only once its lease lapses;
 * - a reconnect landing on B after the run's server was killed ends as interrupted, with the
 *   stored output (once that server's lease lapsed);
 * - a stream started on A, dropped, and resumed on B with lastEventId completes there with every
 *   token once (relayed from A over LISTEN/NOTIFY), equal to the worker's own greedy answer;
 * - an arena battle started on A resumes on B the same way, still blind.
 * Skipped without DATABASE_URL (the servers need a shared database; PGlite is one process).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EventSourceParserStream } from "eventsource-parser/stream";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import type { RunChunk } from "../../server/inference/stream-hub";
import { ownerCookie, startWebServer, type WebServer } from "../e2e/browser";
import { realWorkerAvailable, startTestWorker, workerAnswer, type TestWorker } from "../e2e/playground-harness";

const DATABASE_URL = process.env.DATABASE_URL;
if (!DATABASE_URL) process.stderr.write("\n!!!!! SKIPPING multi-server tests: they need DATABASE_URL (a Postgres server) !!!!!\n\n");

interface Event {
  id: number;
  chunk: RunChunk;
}

async function start(server: WebServer, cookie: string, body: Record<string, unknown>) {
  const res = await fetch(`${server.url}/api/trpc/generate.start`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie },
    body: JSON.stringify({ json: body }),
  });
  if (!res.ok) throw new Error(`start ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { result: { data: { json: { runId: string; chatId: string; generationIds: string[] } } } }).result.data.json;
}

/** A tRPC call's data (a query without input when `body` is absent, else a mutation). */
async function trpc<T>(server: WebServer, cookie: string, procedure: string, body?: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${server.url}/api/trpc/${procedure}`, body ? { method: "POST", headers: { "content-type": "application/json", cookie }, body: JSON.stringify({ json: body }) } : { headers: { cookie } });
  if (!res.ok) throw new Error(`${procedure} ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

async function stop(server: WebServer, cookie: string, runId: string) {
  const res = await fetch(`${server.url}/api/trpc/generate.stop`, { method: "POST", headers: { "content-type": "application/json", cookie }, body: JSON.stringify({ json: { runId } }) });
  if (!res.ok) throw new Error(`stop ${res.status}: ${await res.text()}`);
}

interface Subscription {
  events: Event[];
  /** resolves when every pane ended (or the connection was closed) */
  done: Promise<Event[]>;
  /** resolves once `pred(events)` holds */
  when(pred: (events: Event[]) => boolean): Promise<void>;
  /** drops the connection (as a browser losing it) */
  close(): void;
}

/** The run's SSE subscription on `server` (generate.stream, or `procedure`), as the browser's httpSubscriptionLink opens it. */
function subscribe(server: WebServer, cookie: string, input: Record<string, unknown>, panes: number, procedure = "generate.stream"): Subscription {
  const ac = new AbortController();
  const events: Event[] = [];
  const waiters = new Set<() => void>();
  const notify = () => [...waiters].forEach((w) => w());
  const done = (async () => {
    const q = encodeURIComponent(JSON.stringify({ json: input }));
    try {
      const res = await fetch(`${server.url}/api/trpc/${procedure}?input=${q}`, { headers: { cookie, accept: "text/event-stream" }, signal: ac.signal });
      if (!res.ok || !res.body) throw new Error(`stream ${res.status}: ${await res.text()}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done || value.event === "return") break;
          if (value.event === "serialized-error") throw new Error(`stream error: ${value.data}`);
          if (!value.id || !value.data) continue;
          events.push({ id: Number(value.id), chunk: (JSON.parse(value.data) as { json: RunChunk }).json });
          notify();
          if (events.filter((e) => e.chunk.kind === "end").length === panes) break;
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    } catch (e) {
      if (!ac.signal.aborted) throw e;
    } finally {
      ac.abort();
      notify();
    }
    return events;
  })();
  return {
    events,
    done,
    close: () => ac.abort(),
    when: (pred) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pred(events)) {
            waiters.delete(check);
            resolve();
          } else if (ac.signal.aborted) {
            waiters.delete(check);
            reject(new Error(`the stream ended first: ${JSON.stringify(events.slice(-3))}`));
          }
        };
        waiters.add(check);
        check();
        done.catch(reject);
      }),
  };
}

/** The worker's processes (tsx and node; their command lines name its port). */
function workerPids(url: string): number[] {
  const port = new URL(url).port;
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return cmd.includes("serve") && cmd[cmd.indexOf("--port") + 1] === port;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The web server process listening on `port` (the leader of its process group; PORT in its environment). */
function webServerPid(port: number): number {
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      if (cmd.includes("web-server.mjs") && environ.includes(`PORT=${port}`)) return Number(pid);
    } catch {}
  }
  throw new Error(`no web server process for port ${port}`);
}

/**
 * A run on `server` that cannot end by itself while the worker is paused: one short run first (so
 * the server knows the worker's /info without asking), then the worker is stopped (SIGSTOP) and
 * the long run started — it stays queued until `resume()`, however fast or busy the machine.
 */
async function pausedRun(server: WebServer, cookie: string, workerUrl: string) {
  const { max_new_tokens } = (await (await fetch(`${workerUrl}/info`)).json()) as { max_new_tokens: number };
  const warm = await start(server, cookie, { mode: "raw", adapters: [null], prompt: "Hi", params: { max_new_tokens: 2, temperature: 0 } });
  await subscribe(server, cookie, { runId: warm.runId }, 1).done;
  const pids = workerPids(workerUrl);
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) process.kill(pid, "SIGSTOP");
  let resumed = false;
  const resume = () => {
    if (resumed) return;
    resumed = true;
    for (const pid of pids) process.kill(pid, "SIGCONT");
  };
  try {
    const run = await start(server, cookie, { mode: "raw", adapters: [null], prompt: "Once upon a time", params: { max_new_tokens, temperature: 0, ignore_eos: true } });
    return { run, resume };
  } catch (e) {
    resume();
    throw e;
  }
}

const tokensOf = (events: Event[]) => events.filter((e) => e.chunk.kind === "token");

describe.runIf(DATABASE_URL && realWorkerAvailable())("two web servers on one Postgres", () => {
  const dbName = `t_multi_${randomBytes(5).toString("hex")}`;
  let admin: postgres.Sql;
  let sql: postgres.Sql;
  let worker: TestWorker;
  let a: WebServer;
  let b: WebServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    admin = postgres(DATABASE_URL!, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    const u = new URL(DATABASE_URL!);
    u.pathname = `/${dbName}`;
    // the worker is paused for a restart in one test: A must not give up on its silent stream meanwhile
    env = { DATABASE_URL: u.toString(), WORKER_IDLE_TIMEOUT_S: "900" };
    const h = await openDb({ databaseUrl: env.DATABASE_URL, max: 1 });
    await migrateDb(h);
    await h.close();
    sql = postgres(env.DATABASE_URL!, { max: 2, onnotice: () => {} });
    // every status a generation ever had, in order: a recovery that touched a live stream shows here
    await sql.unsafe(`
      create table status_audit (n bigserial primary key, generation_id text not null, status text not null);
      create function audit_status() returns trigger language plpgsql as $$
      begin
        if tg_op = 'INSERT' or new.status is distinct from old.status then
          insert into status_audit (generation_id, status) values (new.id, new.status);
        end if;
        return new;
      end $$;
      create trigger generations_status_audit after insert or update on generations for each row execute function audit_status();
    `);
    worker = await startTestWorker();
    [a, b] = await Promise.all([startWebServer({ worker: { url: worker.url }, env }), startWebServer({ worker: { url: worker.url }, env })]);
  }, 600_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await worker?.stop();
    await sql?.end();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
  });

  const statuses = async (generationId: string) =>
    (await sql<{ status: string }[]>`select status from status_audit where generation_id = ${generationId} order by n`).map((r) => r.status);

  it("restarting server B does not interrupt server A's live stream", { timeout: 600_000 }, async () => {
    const cookie = await ownerCookie(a);
    // the worker paused: A's run is certainly unfinished while B restarts
    const { run, resume } = await pausedRun(a, cookie, worker.url);
    try {
      // the browser stays connected to A throughout (a run nobody watches is cut off after a grace time)
      const watch = subscribe(a, cookie, { runId: run.runId }, 1);
      await watch.when((ev) => ev.length >= 1);
      await b.stop();
      b = await startWebServer({ worker: { url: worker.url }, env });
      resume();
      // B is up (its recovery at start ran before it served); A's run streams on. Stopped through
      // B (the stop is relayed to A), it ends as stopped
      await watch.when((ev) => tokensOf(ev).length >= 1);
      await stop(b, cookie, run.runId);
      const events = await watch.done;
      expect(events.at(-1)!.chunk).toMatchObject({ kind: "end", status: "stopped" });
      const history = await statuses(run.generationIds[0]!);
      expect(history).not.toContain("interrupted");
      expect(history.at(-1)).toBe("stopped");
    } finally {
      resume();
    }
  });

  it("a server killed (SIGKILL) and restarted on its DATA_DIR marks its own unfinished run interrupted at start", { timeout: 600_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-multi-c-"));
    let c = await startWebServer({ worker: { url: worker.url }, env, dataDir });
    let resume = () => {};
    try {
      const cookie = await ownerCookie(c);
      // the run is unfinished (worker paused) when its server dies
      const paused = await pausedRun(c, cookie, worker.url);
      resume = paused.resume;
      process.kill(-webServerPid(c.port), "SIGKILL");
      c = await startWebServer({ worker: { url: worker.url }, env, dataDir });
      // up means its recovery at start ran: no lease had to lapse first
      const history = await statuses(paused.run.generationIds[0]!);
      expect(history.at(-1), `${fs.readdirSync(dataDir).join(" ")}\n${c.output()}`).toBe("interrupted");
      // A, a live peer, kept its lease
      expect((await sql`select id from web_instances where lease_until > now()`).length).toBeGreaterThanOrEqual(2);
    } finally {
      resume();
      await c.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("a reconnect to B after the run's server was killed ends the pane as interrupted, with its stored output", { timeout: 600_000 }, async () => {
    const d = await startWebServer({ worker: { url: worker.url }, env });
    let resume = () => {};
    try {
      const cookie = await ownerCookie(d);
      const paused = await pausedRun(d, cookie, worker.url);
      resume = paused.resume;
      const runId = paused.run.runId;
      const onD = subscribe(d, cookie, { runId }, 1);
      await onD.when((ev) => ev.length >= 1);
      process.kill(-webServerPid(d.port), "SIGKILL");
      await onD.done.catch(() => {}); // the connection dies with it
      const lastSeen = onD.events.at(-1)!.id;
      // B waits for D's lease to lapse (nobody answers for D), then serves what is stored
      const resumed = await subscribe(b, cookie, { runId, lastEventId: String(lastSeen) }, 1).done;
      expect(resumed.map((e) => e.id)).toEqual([lastSeen + 1]);
      const [row] = await sql<{ status: string; output: string }[]>`select status, output from generations where id = ${paused.run.generationIds[0]!}`;
      expect(row!.status).toBe("interrupted");
      expect(resumed[0]!.chunk).toMatchObject({ kind: "end", status: "interrupted", output: row!.output });
    } finally {
      resume();
      await d.stop();
    }
  });

  it("a stream started on A resumes on B from lastEventId and completes there: every token once", { timeout: 300_000 }, async () => {
    const cookie = await ownerCookie(a);
    const prompt = "Question: how many rows have the name Ada?\nSQL:";
    const params = { max_new_tokens: 48, temperature: 0, ignore_eos: true };
    const run = await start(a, cookie, { mode: "raw", adapters: ["sql", null], prompt, params });
    // the browser's connection to A drops after a few tokens; its reconnect reaches B (opened
    // just before A's is closed, so no grace timer runs meanwhile on a busy machine)
    const onA = subscribe(a, cookie, { runId: run.runId }, 2);
    await onA.when((ev) => tokensOf(ev).length >= 5);
    const lastSeen = onA.events.at(-1)!.id;
    const onB = subscribe(b, cookie, { runId: run.runId, lastEventId: String(lastSeen) }, 2);
    await onB.when((ev) => ev.length > 0);
    onA.close();
    const first = (await onA.done).filter((e) => e.id <= lastSeen);
    const resumed = await onB.done;
    expect(resumed.length).toBeGreaterThan(0);
    const all = [...first, ...resumed];
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i));
    for (const [pane, adapter] of (["sql", null] as const).entries()) {
      const text = tokensOf(all)
        .filter((e) => e.chunk.pane === pane && e.chunk.kind === "token" && !e.chunk.special)
        .map((e) => (e.chunk as { text: string }).text)
        .join("");
      const end = all.find((e) => e.chunk.kind === "end" && e.chunk.pane === pane)?.chunk;
      expect(end).toMatchObject({ kind: "end", status: "done" });
      const expected = await workerAnswer(worker.url, prompt, adapter, params.max_new_tokens, true, true);
      expect(text).toBe(expected);
      expect((end as { output: string }).output).toBe(expected);
    }
    const rows = await sql<{ status: string }[]>`select status from generations where run_id = ${run.runId} order by pane`;
    expect(rows.map((r) => r.status)).toEqual(["done", "done"]);
  });

  it("an arena battle started on A resumes on B from lastEventId: every event once, both answers whole, still blind", { timeout: 300_000 }, async () => {
    const cookie = await ownerCookie(a);
    const tasks = await trpc<{ key: string; inputColumns: string[]; sampleInputs: Record<string, string>[] }[]>(a, cookie, "arena.tasks");
    expect(tasks.length).toBeGreaterThan(0);
    const task = tasks[0]!;
    const inputs = task.sampleInputs[0] ?? Object.fromEntries(task.inputColumns.map((c) => [c, "Ada Lovelace wrote the first program."]));
    const { battleId } = await trpc<{ battleId: string }>(a, cookie, "arena.start", { task: task.key, inputs });
    // B has no hub run for it: before the relay, B answered NOT_FOUND here
    const onA = subscribe(a, cookie, { battleId }, 2, "arena.stream");
    await onA.when((ev) => ev.length >= 1);
    const lastSeen = onA.events.at(-1)!.id;
    const onB = subscribe(b, cookie, { battleId, lastEventId: String(lastSeen) }, 2, "arena.stream");
    await onB.when((ev) => ev.length > 0);
    onA.close();
    const first = (await onA.done).filter((e) => e.id <= lastSeen);
    const resumed = await onB.done;
    const all = [...first, ...resumed];
    // every event once, in order: the same as the whole battle read again on A (its log is kept);
    // ids skip what a blind pane may not see (the stats chunks)
    const whole = await subscribe(a, cookie, { battleId }, 2, "arena.stream").done;
    expect(all).toEqual(whole);
    for (const pane of [0, 1]) {
      const tokens = tokensOf(all).filter((e) => e.chunk.pane === pane).map((e) => e.chunk as Extract<RunChunk, { kind: "token" }>);
      // blind: no log-probabilities or timings that could tell the models apart
      for (const t of tokens) expect([t.logprob, t.at]).toEqual([null, 0]);
      const end = all.find((e) => e.chunk.kind === "end" && e.chunk.pane === pane)?.chunk as Extract<RunChunk, { kind: "end" }> | undefined;
      expect(end).toMatchObject({ kind: "end", status: "done", stats: { queueMs: null, ttftMs: null, totalMs: null } });
      expect(tokens.filter((t) => !t.special).map((t) => t.text).join("")).toBe(end!.output);
    }
  });

  it("a subscription opened on B with the start call (awaitStart) while the run starts on A streams it from A", { timeout: 300_000 }, async () => {
    const cookie = await ownerCookie(a);
    const runId = crypto.randomUUID();
    const prompt = "Once upon a time";
    const params = { max_new_tokens: 16, temperature: 0 };
    const onB = subscribe(b, cookie, { runId, awaitStart: true }, 1);
    await start(a, cookie, { mode: "raw", adapters: ["e2e"], prompt, params, runId });
    const all = await onB.done;
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i));
    const end = all.at(-1)!.chunk as Extract<RunChunk, { kind: "end" }>;
    expect(end).toMatchObject({ kind: "end", status: "done" });
    const text = tokensOf(all)
      .filter((e) => e.chunk.kind === "token" && !e.chunk.special)
      .map((e) => (e.chunk as { text: string }).text)
      .join("");
    expect(text).toBe(end.output);
    expect(end.output).toBe(await workerAnswer(worker.url, prompt, "e2e", params.max_new_tokens, true));
  });
});
