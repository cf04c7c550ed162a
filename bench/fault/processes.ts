/**
 * Processes for the fault script and the fuzzer: the worker on the demo model and the production
 * web server (scripts/lib/web-server.mjs) on given ports, each in its own process group so a
 * SIGKILL takes all of it, and a private snapshot of the Next build to serve from.
 *
 * Why a snapshot: every e2e test rebuilds the shared `.next` when sources changed, and a server
 * running from it dies when that happens (on a machine where several sessions edit, it did, mid
 * run). The snapshot is a temp folder with a copy of `.next` (without its cache) and a symlink for
 * everything else in the repository, so the server's paths resolve as before.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureWebBuild, ROOT } from "../../tests/e2e/browser";

export { freePort } from "../../tests/e2e/browser";

export interface Proc {
  child: ChildProcess;
  /** the last 200 kB it printed */
  output(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnProc(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Proc {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return { child, output: () => out };
}

const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

async function waitFor(url: string, what: string, proc: Proc, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive(proc)) throw new Error(`${what} exited:\n${proc.output().slice(-4000)}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(3000) })).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await kill9(proc);
      throw new Error(`${what} not up in time:\n${proc.output().slice(-4000)}`);
    }
    await sleep(250);
  }
}

/** SIGKILL to the process group: no handler runs, nothing is flushed */
export async function kill9(p: Proc): Promise<void> {
  if (!alive(p)) return;
  const gone = new Promise((r) => p.child.once("exit", r));
  try {
    process.kill(-p.child.pid!, "SIGKILL");
  } catch {
    p.child.kill("SIGKILL");
  }
  await gone;
}

export async function stopGently(p: Proc): Promise<void> {
  if (!alive(p)) return;
  const gone = new Promise((r) => p.child.once("exit", r));
  try {
    process.kill(-p.child.pid!, "SIGTERM");
  } catch {}
  const t = setTimeout(() => void kill9(p), 10_000);
  await gone;
  clearTimeout(t);
}

/** The real worker on the bundled demo model (its adapters), Hub downloads refused. */
export async function startDemoWorker(port: number, maxNewTokens = 256): Promise<Proc> {
  const demo = path.join(ROOT, "data/demo");
  const p = spawnProc(
    ["--import", "tsx", path.join(ROOT, "inference/cli/main.ts"), "serve", "--host", "127.0.0.1", "--port", String(port), "--model", path.join(demo, "base"), "--adapters", path.join(demo, "adapters"), "--max-new-tokens", String(maxNewTokens)],
    { ...process.env, HF_ENDPOINT: "http://127.0.0.1:9", HF_TOKEN: "" },
  );
  await waitFor(`http://127.0.0.1:${port}/health`, "worker", p);
  return p;
}

export interface BuildSnapshot {
  root: string;
  remove(): void;
}

/** A private copy of a fresh build (built first if stale); taken again if a rebuild began meanwhile. */
export async function snapshotWebBuild(): Promise<BuildSnapshot> {
  const buildId = () => {
    try {
      return fs.readFileSync(path.join(ROOT, ".next/BUILD_ID"), "utf8");
    } catch {
      return null;
    }
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    await ensureWebBuild();
    const id = buildId();
    if (!id) continue;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "web-snapshot-"));
    const remove = () => fs.rmSync(root, { recursive: true, force: true });
    try {
      for (const e of fs.readdirSync(ROOT)) if (e !== ".next") fs.symlinkSync(path.join(ROOT, e), path.join(root, e));
      const cache = path.join(ROOT, ".next", "cache");
      fs.cpSync(path.join(ROOT, ".next"), path.join(root, ".next"), { recursive: true, filter: (src) => src !== cache });
    } catch {
      remove(); // the build changed under the copy
      continue;
    }
    if (buildId() === id) return { root, remove };
    remove();
  }
  throw new Error("could not take a snapshot of the Next build: it kept being rebuilt");
}

/** The production web server (as `npm start` runs it: loopback only) from a build snapshot. */
export async function startWeb(snapshot: BuildSnapshot, port: number, env: Record<string, string>): Promise<Proc> {
  const base: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production", PORT: String(port), INFERENCE_PROTOCOL: "lorax", ...env };
  if (!env.DATABASE_URL) delete base.DATABASE_URL;
  delete base.HOST;
  const p = spawnProc([path.join(snapshot.root, "scripts/lib/web-server.mjs")], base, snapshot.root);
  await waitFor(`http://127.0.0.1:${port}/api/eval/ingest`, "web server", p);
  return p;
}
