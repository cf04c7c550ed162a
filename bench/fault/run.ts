/**
 * Fault script (`npm run fault`): under load — several clients each starting generations through
 * tRPC (`generate.start`, then following `generate.stream`) — it kills the worker with SIGKILL,
 * kills the web server with SIGKILL, restarts Postgres mid-write (only a server this script
 * started itself), brings back what was killed, lets the load run on, then checks every chat
 * whose `start` answered an id, through the API as its owner:
 * - lost: no chat row, or fewer generation rows than panes;
 * - duplicated: more generation rows than panes, or two chats for one start (each start's prompt is
 *   unique);
 * - stuck: a generation still queued/streaming once everything is back (after waiting out the
 *   recovery lease);
 * - wrongly marked: `done` with fewer tokens than asked (every request is greedy with ignore_eos,
 *   so a complete answer has exactly --tokens, 96 by default: long enough that a kill finds runs
 *   mid-stream), or not `done` / another text than the client saw complete.
 * Goal: zero of each. Starts that were refused or not answered (the web server was down) are
 * counted, with why (HTTP 503 while Postgres restarts, a refused connection while the web server
 * is down…), but are not losses: the client was never told the chat existed. A start answered
 * 500 is a failure too: an outage is a 503 to retry.
 *
 *   npm run fault -- [--db pglite,postgres-own,postgres] [--clients 6] [--phase-seconds 6] [--tokens 96]
 *
 * Databases: `pglite` (the web server's own, in a temp DATA_DIR); `postgres-own` (a throwaway
 * cluster this script creates with initdb in a temp folder, on a free port, so it may restart it:
 * `pg_ctl restart -m immediate` is the crash-like restart); `postgres` (DATABASE_URL's server,
 * default postgres://postgres@127.0.0.1:5432/test, in a database `loraland_fault` created for the
 * run; that server is shared, so it is not restarted). Default: every one available here.
 */
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { EventSourceParserStream } from "eventsource-parser/stream";
import postgres from "postgres";
import { ownerCookie, ROOT } from "../../tests/e2e/browser";
import { freePort, kill9, snapshotWebBuild, startDemoWorker, startWeb, stopGently, type BuildSnapshot } from "./processes";

// ---- options --------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const intArg = (name: string, fallback: number): number => {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer, got ${v}\n`);
    process.exit(2);
  }
  return n;
};
const CLIENTS = intArg("clients", 6);
const PHASE_MS = intArg("phase-seconds", 6) * 1000;
const TOKENS = intArg("tokens", 96);
const PG_BIN = "/usr/lib/postgresql/15/bin";
const SHARED_PG = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
type DbKind = "pglite" | "postgres-own" | "postgres";
const KINDS: DbKind[] = ["pglite", "postgres-own", "postgres"];
const dbs = (arg("db") ?? KINDS.filter((k) => k !== "postgres-own" || fs.existsSync(path.join(PG_BIN, "initdb"))).join(",")).split(",") as DbKind[];
for (const d of dbs) {
  if (!KINDS.includes(d)) {
    process.stderr.write(`--db takes ${KINDS.join(", ")} (comma-separated), got ${d}\n`);
    process.exit(2);
  }
}
const log = (l: string) => process.stderr.write(`[fault ${new Date().toISOString().slice(11, 19)}] ${l}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- Postgres this script may restart ---------------------------------------------------------

/** A throwaway Postgres cluster in a temp folder (as the postgres user when run as root). */
class OwnPostgres {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "fault-pg-"));
  constructor(readonly port: number) {}
  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
  private run(bin: string, args: string[]) {
    const asRoot = process.getuid?.() === 0;
    const cmd = asRoot ? "runuser" : path.join(PG_BIN, bin);
    const full = asRoot ? ["-u", "postgres", "--", path.join(PG_BIN, bin), ...args] : args;
    const r = spawnSync(cmd, full, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
  }
  private get opts() {
    return ["-o", `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=on`];
  }
  start() {
    if (process.getuid?.() === 0) spawnSync("chown", ["postgres", this.dir]);
    this.run("initdb", ["-D", path.join(this.dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
    this.run("pg_ctl", ["-D", path.join(this.dir, "data"), "-l", path.join(this.dir, "log"), ...this.opts, "-w", "start"]);
  }
  /** immediate mode: no checkpoint, clients cut off, crash recovery on start; asynchronous, so the load goes on meanwhile */
  async restart() {
    const asRoot = process.getuid?.() === 0;
    const args = ["-D", path.join(this.dir, "data"), "-l", path.join(this.dir, "log"), ...this.opts, "-m", "immediate", "-w", "restart"];
    await promisify(execFile)(asRoot ? "runuser" : path.join(PG_BIN, "pg_ctl"), asRoot ? ["-u", "postgres", "--", path.join(PG_BIN, "pg_ctl"), ...args] : args);
  }
  stop() {
    try {
      this.run("pg_ctl", ["-D", path.join(this.dir, "data"), "-m", "immediate", "-w", "stop"]);
    } catch (e) {
      log(`stopping the throwaway Postgres: ${(e as Error).message}`);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- the load -----------------------------------------------------------------------------------

interface Start {
  client: number;
  /** the owner cookie the start went as (its chat is that owner's) */
  cookie: string;
  prompt: string;
  phase: string;
  panes: (string | null)[];
  /** set when start answered */
  chatId?: string;
  runId?: string;
  /** why start did not answer an id (HTTP status or connection error) */
  refused?: string;
  /** what the client saw end, per pane */
  seen: Map<number, { status: string; output: string }>;
  answeredAt?: number;
  /** when the client saw its last pane end */
  endedAt?: number;
}

const ADAPTERS = [null, "sql", "ner", "spam", "sentiment", "wordnet"];
/**
 * The web server's limits hold for the load too: 60 starts a minute per owner, 240 per address.
 * Each client is one address with four owners taken in turn and starts at most 235 runs a minute;
 * unpaced, a quiet machine spent a client's budget in the first seconds and the later probes got
 * only 429s (a probe row with no start answered).
 */
const OWNERS_PER_CLIENT = 4;
const MIN_START_GAP_MS = 60_000 / 235;

class Load {
  readonly starts: Start[] = [];
  private current = "baseline";
  /** when each fault struck */
  readonly faults = new Map<string, number>();
  get phase() {
    return this.current;
  }
  /** a new phase, begun by its fault now */
  set phase(p: string) {
    this.current = p;
    this.faults.set(p, Date.now());
  }
  /** runs answered before the fault that the client had not yet seen end: what the fault cut */
  inFlightAt(phase: string): number | null {
    const at = this.faults.get(phase);
    if (at === undefined) return null;
    return this.starts.filter((s) => s.answeredAt !== undefined && s.answeredAt < at && (s.endedAt === undefined || s.endedAt > at)).length;
  }
  private running = true;
  private loops: Promise<void>[] = [];
  private readonly follows: Promise<void>[] = [];
  constructor(
    private readonly url: string,
    /** per client, its owners' cookies */
    private readonly owners: string[][],
  ) {}

  begin() {
    this.loops = this.owners.map((cookies, i) => this.client(i, cookies));
  }

  async end(timeoutMs = 60_000) {
    this.running = false;
    await Promise.race([Promise.all(this.loops).then(() => Promise.all(this.follows)), sleep(timeoutMs)]);
  }

  private headers(i: number, cookie: string) {
    return { cookie, "content-type": "application/json", "x-forwarded-for": `198.51.100.${i + 1}` };
  }

  private async client(i: number, cookies: string[]) {
    let lastStart = 0;
    for (let n = 0; this.running; n++) {
      await sleep(Math.max(0, lastStart + MIN_START_GAP_MS - Date.now()));
      lastStart = Date.now();
      const cookie = cookies[n % cookies.length]!;
      const panes = n % 3 === 2 ? [ADAPTERS[(i + n) % ADAPTERS.length]!, ADAPTERS[(i + n + 1) % ADAPTERS.length]!] : [ADAPTERS[(i + n) % ADAPTERS.length]!];
      const s: Start = { client: i, cookie, prompt: `fault probe ${i}-${n}-${Math.random().toString(36).slice(2, 8)}: once upon a time`, phase: this.phase, panes, seen: new Map() };
      try {
        const res = await fetch(`${this.url}/api/trpc/generate.start`, {
          method: "POST",
          headers: this.headers(i, cookie),
          body: JSON.stringify({ json: { mode: "raw", adapters: panes, prompt: s.prompt, params: { max_new_tokens: TOKENS, temperature: 0, ignore_eos: true } } }),
          signal: AbortSignal.timeout(30_000),
        });
        if (res.ok) {
          const out = ((await res.json()) as { result: { data: { json: { runId: string; chatId: string } } } }).result.data.json;
          s.chatId = out.chatId;
          s.answeredAt = Date.now();
          s.runId = out.runId;
        } else {
          s.refused = `HTTP ${res.status}`;
          const wait = res.status === 429 ? Number(res.headers.get("retry-after") ?? 1) : 0.5;
          await res.arrayBuffer();
          this.starts.push(s);
          await sleep(Math.min(wait, 10) * 1000);
          continue;
        }
      } catch (e) {
        s.refused = `connection: ${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`;
        this.starts.push(s);
        await sleep(300);
        continue;
      }
      this.starts.push(s);
      // followed beside the next starts (a reconnect to a restarted server may wait for the run's
      // recovery), so the load goes on: the next start waits at most 3 s for this run's end
      const f = this.follow(i, cookie, s);
      this.follows.push(f);
      await Promise.race([f, sleep(3000)]);
    }
  }

  /** read the run's events to its end, reconnecting (lastEventId) while the web server is back within 20 s */
  private async follow(i: number, cookie: string, s: Start) {
    let lastId: string | null = null;
    const deadline = Date.now() + 90_000;
    let downSince = 0;
    while (s.seen.size < s.panes.length && Date.now() < deadline) {
      try {
        const input = encodeURIComponent(JSON.stringify({ json: { runId: s.runId, lastEventId: lastId } }));
        const res = await fetch(`${this.url}/api/trpc/generate.stream?input=${input}`, { headers: { ...this.headers(i, cookie), accept: "text/event-stream" }, signal: AbortSignal.timeout(60_000) });
        if (!res.ok || !res.body) return;
        downSince = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done || value.event === "return") break;
          if (value.event === "serialized-error") return; // e.g. NOT_FOUND: a restarted server does not know the run
          if (!value.id || !value.data) continue;
          lastId = value.id;
          const c = (JSON.parse(value.data) as { json: { kind: string; pane: number; status?: string; output?: string } }).json;
          if (c.kind === "end") {
            s.seen.set(c.pane, { status: c.status!, output: c.output! });
            if (s.seen.size === s.panes.length) s.endedAt = Date.now();
          }
        }
      } catch {
        // the web server went away mid-stream: try again while it may come back
        downSince ||= Date.now();
        if (Date.now() - downSince > 20_000) return;
        await sleep(300);
      }
    }
  }
}

// ---- checking -----------------------------------------------------------------------------------

interface Row {
  pane: number;
  turn: number;
  status: string;
  output: string;
  tokensOut: number | null;
  tokens: unknown[] | null;
}

async function trpcGet<T>(url: string, cookie: string, proc: string, input: unknown): Promise<{ status: number; data?: T }> {
  const res = await fetch(`${url}/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, { headers: { cookie }, signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { result?: { data: { json: T } } };
  return { status: res.status, data: body.result?.data.json };
}

interface Tally {
  answered: number;
  refused: number;
  lost: number;
  duplicated: number;
  stuck: number;
  wrong: number;
  /** why starts were refused: HTTP 503, 429, a refused connection… */
  refusedBy: Record<string, number>;
  /** starts answered 500: a process or the database down is a 503 to retry, never a 500 */
  answered500: number;
  /** final status of every generation row found (done, error, interrupted…) */
  states: Record<string, number>;
  /** one line per problem found */
  notes: string[];
}

async function check(url: string, owners: string[][], starts: Start[]): Promise<Map<string, Tally>> {
  const byPhase = new Map<string, Tally>();
  const t = (phase: string) => {
    let x = byPhase.get(phase);
    if (!x) byPhase.set(phase, (x = { answered: 0, refused: 0, refusedBy: {}, answered500: 0, lost: 0, duplicated: 0, stuck: 0, wrong: 0, states: {}, notes: [] }));
    return x;
  };
  // two chats for one start: each start's prompt (the chat's title) is unique
  const titles = new Map<string, number>();
  for (const cookie of owners.flat()) {
    const list = await trpcGet<{ title: string }[]>(url, cookie, "chats.list", {});
    for (const c of list.data ?? []) titles.set(c.title, (titles.get(c.title) ?? 0) + 1);
  }
  for (const s of starts) {
    const tally = t(s.phase);
    // (prompts are under 80 characters, so the title is the whole prompt)
    if ((titles.get(s.prompt) ?? 0) > 1) {
      tally.duplicated++;
      tally.notes.push(`duplicated: ${titles.get(s.prompt)} chats titled "${s.prompt}"`);
    }
    if (!s.chatId) {
      tally.refused++;
      const why = s.refused?.startsWith("connection") ? "connection" : (s.refused ?? "unanswered");
      tally.refusedBy[why] = (tally.refusedBy[why] ?? 0) + 1;
      if (s.refused === "HTTP 500") {
        tally.answered500++;
        tally.notes.push(`answered 500 (not a 503 to retry): start "${s.prompt}"`);
      }
      continue;
    }
    tally.answered++;
    const got = await trpcGet<{ generations: Row[] }>(url, s.cookie, "chats.get", { id: s.chatId });
    if (got.status === 404 || !got.data) {
      tally.lost++;
      tally.notes.push(`lost: chat ${s.chatId} (start answered, HTTP ${got.status} now)`);
      continue;
    }
    const rows = got.data.generations;
    if (rows.length < s.panes.length) {
      tally.lost++;
      tally.notes.push(`lost: chat ${s.chatId} has ${rows.length} of ${s.panes.length} generations`);
    }
    if (rows.length > s.panes.length || new Set(rows.map((r) => `${r.turn}/${r.pane}`)).size < rows.length) {
      tally.duplicated++;
      tally.notes.push(`duplicated: chat ${s.chatId} has ${rows.length} generations for ${s.panes.length} panes`);
    }
    for (const r of rows) {
      tally.states[r.status] = (tally.states[r.status] ?? 0) + 1;
      const seen = s.seen.get(r.pane);
      if (r.status === "queued" || r.status === "streaming") {
        tally.stuck++;
        tally.notes.push(`stuck: chat ${s.chatId} pane ${r.pane} is ${r.status}`);
      } else if (r.status === "done" && (r.tokensOut !== TOKENS || (r.tokens?.length ?? 0) !== TOKENS || !r.output)) {
        tally.wrong++;
        tally.notes.push(`wrong: chat ${s.chatId} pane ${r.pane} done with ${r.tokensOut} tokens (${r.tokens?.length ?? 0} stored) of ${TOKENS}`);
      } else if (seen?.status === "done" && (r.status !== "done" || r.output !== seen.output)) {
        tally.wrong++;
        tally.notes.push(`wrong: chat ${s.chatId} pane ${r.pane} completed for the client but is ${r.status}${r.status === "done" ? " with another text" : ""}`);
      }
    }
  }
  return byPhase;
}

/** wait until no answered chat has a queued/streaming generation (recovery of a killed server's rows may wait for its lease) */
async function settle(url: string, starts: Start[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    let open = 0;
    for (const s of starts) {
      if (!s.chatId) continue;
      const got = await trpcGet<{ generations: Row[] }>(url, s.cookie, "chats.get", { id: s.chatId });
      open += got.data?.generations.filter((r) => r.status === "queued" || r.status === "streaming").length ?? 0;
    }
    if (open === 0 || Date.now() - t0 > timeoutMs) return Date.now() - t0;
    await sleep(2000);
  }
}

// ---- one database ---------------------------------------------------------------------------

interface Outcome {
  /** per probe: runs in flight when its fault struck */
  inFlight: Map<string, number | null>;
  db: DbKind;
  phases: Map<string, Tally>;
  settledMs: number;
  skipped: string[];
}

async function runOn(kind: DbKind, snapshot: BuildSnapshot): Promise<Outcome> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "fault-data-"));
  const skipped: string[] = [];
  let ownPg: OwnPostgres | null = null;
  let databaseUrl: string | undefined;
  if (kind === "postgres-own") {
    ownPg = new OwnPostgres(await freePort());
    ownPg.start();
    databaseUrl = ownPg.url;
  } else if (kind === "postgres") {
    const admin = postgres(SHARED_PG, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe("drop database if exists loraland_fault with (force)");
      await admin.unsafe("create database loraland_fault");
    } finally {
      await admin.end({ timeout: 5 });
    }
    const u = new URL(SHARED_PG);
    u.pathname = "/loraland_fault";
    databaseUrl = u.toString();
    skipped.push("Postgres restart: DATABASE_URL's server is shared, so it is not restarted (postgres-own does)");
  } else skipped.push("Postgres restart: PGlite runs inside the web server");

  const workerPort = await freePort();
  const webPort = await freePort();
  const url = `http://127.0.0.1:${webPort}`;
  const webEnv = { TRUST_PROXY: "1", DATA_DIR: dataDir, INFERENCE_URL: `http://127.0.0.1:${workerPort}`, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  let worker = await startDemoWorker(workerPort);
  let web = await startWeb(snapshot, webPort, webEnv);
  const webLogs: string[] = [];
  try {
    const owners = await Promise.all(Array.from({ length: CLIENTS }, () => Promise.all(Array.from({ length: OWNERS_PER_CLIENT }, () => ownerCookie({ url })))));
    const load = new Load(url, owners);
    log(`${kind}: load from ${CLIENTS} clients`);
    load.begin();
    await sleep(PHASE_MS);

    load.phase = "worker kill -9";
    log(`${kind}: kill -9 the worker`);
    await kill9(worker);
    await sleep(1500);
    worker = await startDemoWorker(workerPort);
    await sleep(PHASE_MS);

    load.phase = "web kill -9";
    log(`${kind}: kill -9 the web server`);
    await kill9(web);
    webLogs.push(web.output());
    await sleep(1000);
    web = await startWeb(snapshot, webPort, webEnv);
    await sleep(PHASE_MS);

    if (ownPg) {
      load.phase = "Postgres restart";
      log(`${kind}: restart Postgres (immediate)`);
      await ownPg.restart();
      await sleep(PHASE_MS);
    }

    load.phase = "after";
    log(`${kind}: load stops; waiting for the clients' runs to end`);
    await load.end();
    const settledMs = await settle(url, load.starts, 60_000);
    const phases = await check(url, owners, load.starts);
    const inFlight = new Map([...phases.keys()].map((p) => [p, p === "after" ? null : load.inFlightAt(p)]));
    return { db: kind, phases, settledMs, skipped, inFlight };
  } finally {
    webLogs.push(web.output());
    const logFile = path.join(os.tmpdir(), `fault-web-${kind}.log`);
    fs.writeFileSync(logFile, webLogs.join("\n----- (restarted) -----\n"));
    log(`${kind}: the web server's log: ${logFile}`);
    await stopGently(web);
    await stopGently(worker);
    ownPg?.stop();
    if (kind === "postgres") {
      const admin = postgres(SHARED_PG, { max: 1, onnotice: () => {} });
      await admin.unsafe("drop database if exists loraland_fault with (force)").finally(() => admin.end({ timeout: 5 }));
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---- main ---------------------------------------------------------------------------------------

function format(o: Outcome): string {
  const lines = [
    `**${o.db}** (recovered and settled ${(o.settledMs / 1000).toFixed(0)} s after the load stopped)`,
    "",
    "| probe (starts sent while…) | runs in flight at the fault | starts answered | refused / unanswered | lost | duplicated | stuck | wrongly marked | generations found, by final status |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const total: Tally = { answered: 0, refused: 0, refusedBy: {}, answered500: 0, lost: 0, duplicated: 0, stuck: 0, wrong: 0, states: {}, notes: [] };
  const states = (st: Record<string, number>) => Object.entries(st).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
  // the refusals' reasons beside their count: "10 (HTTP 503 8, connection 2)"
  const refused = (x: Tally) => `${x.refused}${x.refused ? ` (${states(x.refusedBy)})` : ""}`;
  for (const [phase, x] of o.phases) {
    lines.push(`| ${phase} | ${o.inFlight.get(phase) ?? "–"} | ${x.answered} | ${refused(x)} | ${x.lost} | ${x.duplicated} | ${x.stuck} | ${x.wrong} | ${states(x.states)} |`);
    for (const k of ["answered", "refused", "answered500", "lost", "duplicated", "stuck", "wrong"] as const) total[k] += x[k];
    for (const [k, n] of Object.entries(x.refusedBy)) total.refusedBy[k] = (total.refusedBy[k] ?? 0) + n;
    for (const [k, n] of Object.entries(x.states)) total.states[k] = (total.states[k] ?? 0) + n;
    total.notes.push(...x.notes);
  }
  lines.push(`| **all** | | **${total.answered}** | ${refused(total)} | **${total.lost}** | **${total.duplicated}** | **${total.stuck}** | **${total.wrong}** | ${states(total.states)} |`);
  for (const s of o.skipped) lines.push(`- skipped: ${s}`);
  for (const n of total.notes.slice(0, 30)) lines.push(`- ${n}`);
  if (total.notes.length > 30) lines.push(`- … ${total.notes.length - 30} more`);
  return lines.join("\n");
}

const commit = spawnSync("git", ["log", "-1", "--format=%h %s"], { cwd: ROOT, encoding: "utf8" }).stdout.trim();
const dirty = spawnSync("git", ["status", "--short", "--untracked-files=no", "--", "server", "db", "app", "inference"], { cwd: ROOT, encoding: "utf8" }).stdout.trim();
process.stdout.write(
  `Machine: ${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)} at start\n` +
    `Commit: ${commit}${dirty ? " (with uncommitted changes in server/db/app/inference)" : ""}\n` +
    `Load: ${CLIENTS} clients, each starting greedy runs of ${TOKENS} tokens (1 or 2 panes) through tRPC as ${OWNERS_PER_CLIENT} owners in turn, at most 235 a minute (the server's per-owner and per-address limits); ${PHASE_MS / 1000} s per phase\n\n`,
);
const snapshot = await snapshotWebBuild();
let bad = 0;
try {
  for (const kind of dbs) {
    const o = await runOn(kind, snapshot);
    process.stdout.write(`${format(o)}\n\n`);
    for (const x of o.phases.values()) bad += x.lost + x.duplicated + x.stuck + x.wrong + x.answered500;
  }
} finally {
  snapshot.remove();
}
process.exit(bad > 0 ? 1 : 0);
