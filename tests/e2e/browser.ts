/**
 * Shared helpers for the browser tests (Playwright in Chromium, no download: Debian's chromium or
 * CHROME_PATH).
 * - `browserAvailable()` — for `describe.runIf(...)`: skips (loudly) without Chromium outside CI,
 *   fails in CI.
 * - `launchBrowser()` — headless Chromium with the flags a sandboxed, offline machine needs.
 * - `ensureWebBuild()` — one `next build` shared by every e2e file (a file lock; reused when fresh).
 * - `startWebServer()` — the production server (scripts/lib/web-server.mjs, as `npm start` runs
 *   it: loopback only, so the tests' own requests have the admin right unless they say they came
 *   through a proxy) on a free port with a temporary DATA_DIR, killed with its whole process group
 *   by `stop()`.
 * - `ownerCookie()` — a signed owner cookie minted by a page load (API calls need one).
 * - `trackApiRequests()` — a page's /api/ requests as they went, for a failure message.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page, type Request } from "playwright-core";
import { buildIfStale } from "../../scripts/lib/next-build";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CHROME_PATH = process.env.CHROME_PATH || "/usr/bin/chromium";
export const CHROME_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROME_PATH);
}

/**
 * Whether the browser tests can run: true when Chromium is there; outside CI false with a loud
 * message (so `describe.runIf(browserAvailable())` skips them); in CI a missing browser throws.
 */
export function browserAvailable(): boolean {
  if (chromiumAvailable()) return true;
  const msg = `Chromium not found at ${CHROME_PATH} (set CHROME_PATH or apt-get install chromium)`;
  if (process.env.CI) throw new Error(`${msg}: browser tests cannot be skipped in CI`);
  process.stderr.write(`\n!!!!! SKIPPING BROWSER TESTS: ${msg} !!!!!\n\n`);
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROME_PATH, headless: true, args: CHROME_FLAGS });
}

import { freePort } from "../../server/eval/worker-process";

export { freePort };

const LOCK = path.join(os.tmpdir(), `loraland-next-build-${Buffer.from(ROOT).toString("hex").slice(-24)}.lock`);

function lockHolderAlive(): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(LOCK, "pid"), "utf8"));
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Builds .next once for all e2e files (another process building → wait for it). */
export async function ensureWebBuild(): Promise<void> {
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(path.join(LOCK, "pid"), String(process.pid));
      break;
    } catch {
      if (!lockHolderAlive() && fs.existsSync(LOCK)) {
        await new Promise((r) => setTimeout(r, 500)); // the holder may not have written its pid yet
        if (!lockHolderAlive()) fs.rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    buildIfStale(ROOT, (l) => process.stderr.write(`${l}\n`));
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

export interface WebServer {
  url: string;
  port: number;
  dataDir: string;
  /** everything the server printed so far (for failure messages) */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * "none": only the web server (the worker is offline: WORKER_PORT points at a closed port);
   * "builtin": `npm start`'s own supervisor starts the worker too; or an external worker URL.
   */
  worker?: "none" | "builtin" | { url: string; protocol?: "lorax" | "openai" };
  /** extra environment (e.g. MODEL_DIR, ADAPTERS_DIR, DATABASE_URL) */
  env?: Record<string, string>;
  /** reuse a data directory (restart tests); default: a fresh temp dir, removed by stop() */
  dataDir?: string;
  /** how long to wait for the first page, ms */
  timeoutMs?: number;
}

export async function startWebServer(opts: StartOptions = {}): Promise<WebServer> {
  await ensureWebBuild();
  const port = await freePort();
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "loraland-e2e-"));
  const worker = opts.worker ?? "none";
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    PORT: String(port),
    WORKER_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    ...opts.env,
  };
  if (!opts.env?.DATABASE_URL) delete env.DATABASE_URL;
  if (typeof worker === "object") {
    env.INFERENCE_URL = worker.url;
    env.INFERENCE_PROTOCOL = worker.protocol ?? "lorax";
  } else delete env.INFERENCE_URL;

  const args =
    worker === "builtin"
      ? [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), path.join(ROOT, "scripts/start.ts")]
      : [path.join(ROOT, "scripts/lib/web-server.mjs")]; // what `npm start` runs: loopback-bound, knows the peer
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...env, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // own process group: stop() kills the worker and Next too
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {}
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`web server exited (${child.exitCode}):\n${out}`);
    try {
      // the eval CLI's probe: answers without an owner cookie or the admin right
      const res = await fetch(`${url}/api/eval/ingest`, { signal: AbortSignal.timeout(5000) });
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`web server did not answer on ${url} in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { url, port, dataDir, output: () => out, stop };
}

/**
 * A page load's signed owner cookie, as `owner=<value>` for a Cookie header. `headers` go with the
 * page request (e.g. `x-forwarded-for` to look like a visitor behind a proxy, not the admin).
 */
export async function ownerCookie(server: Pick<WebServer, "url">, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${server.url}/chats`, { headers, redirect: "manual" });
  const set = res.headers.getSetCookie().find((c) => c.startsWith("owner="));
  if (!set) throw new Error(`no owner cookie from a page load (HTTP ${res.status})`);
  return set.split(";")[0]!;
}

/**
 * Follows a page's /api/ requests from now on; the function returned lists the last 40 (ms since
 * tracking began: sent, answered with its status, body finished or failed), with tRPC inputs cut
 * short. For failure messages: which call a stuck page is waiting on.
 */
export function trackApiRequests(page: Page): () => string {
  const t0 = Date.now();
  const rows = new Map<Request, { sent: number; what: string; status?: string; end?: string }>();
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith("/api/")) return;
    const input = u.searchParams.get("input") ?? r.postData() ?? "";
    rows.set(r, { sent: Date.now() - t0, what: `${r.method()} ${u.pathname} ${input.slice(0, 120)}` });
  });
  page.on("response", (res) => {
    const row = rows.get(res.request());
    if (row) row.status = `HTTP ${res.status()} at +${Date.now() - t0}`;
  });
  page.on("requestfinished", (r) => {
    const row = rows.get(r);
    if (row) row.end = `finished at +${Date.now() - t0}`;
  });
  page.on("requestfailed", (r) => {
    const row = rows.get(r);
    if (row) row.end = `failed at +${Date.now() - t0}: ${r.failure()?.errorText ?? "?"}`;
  });
  return () =>
    [...rows.values()]
      .slice(-40)
      .map((r) => `+${r.sent} ${r.what} -> ${r.status ?? "no answer"}${r.end ? `, ${r.end}` : ", open"}`)
      .join("\n");
}
