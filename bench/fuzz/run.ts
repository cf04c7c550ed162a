/**
 * `npm run fuzz -- [--seconds 60] [--only worker|trpc] [--seed N] [--runners 3]`: both halves of
 * the fuzzer, one after the other, each for the time given (`npm run fuzz:worker` / `fuzz:trpc`
 * run one):
 * - worker: the real worker on the tiny-llama fixture (its adapters, a Hub endpoint that refuses
 *   connections, a temp data folder), every route (worker-fuzz.ts) beside a long stream;
 * - trpc: the production web server (scripts/lib/web-server.mjs from a private snapshot of the
 *   build, PGlite in a temp DATA_DIR, TRUST_PROXY=1 so the watched stream has its own address
 *   budget) on the real worker with the demo model, every tRPC procedure (trpc-fuzz.ts) from page-minted owners and hostile callers,
 *   beside a generation watched through the web (web-stream-watch.ts).
 * Prints one table per half, and each stall with what the machine was doing meanwhile (load, CPU
 * pressure, the fuzzer's own lag, the servers' CPU time and how fast they answered a probe:
 * machine-watch.ts), so a stall of a busy machine reads apart from a server's. Exit code 1 when a 5xx, a hang or a stall over 500 ms was seen.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ownerCookie, ROOT } from "../../tests/e2e/browser";
import { FIXTURES, startWorker } from "../../tests/worker/worker-helpers";
import { freePort, snapshotWebBuild, startDemoWorker, startWeb, stopGently, type Proc } from "../fault/processes";
import { MachineWatch, type StallContext } from "./machine-watch";
import { formatTrpcReport, fuzzTrpc } from "./trpc-fuzz";
import { watchWebStream } from "./web-stream-watch";
import { formatReport, fuzzWorker } from "./worker-fuzz";

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));
const only = arg("only");
if (only !== undefined && only !== "worker" && only !== "trpc") {
  process.stderr.write(`--only must be worker or trpc, got ${only}\n`);
  process.exit(2);
}
const seconds = num("seconds") ?? 60;
if (!(seconds > 0)) {
  process.stderr.write(`--seconds must be a positive number, got ${arg("seconds")}\n`);
  process.exit(2);
}
const log = (l: string) => process.stderr.write(`${l}\n`);
const machine = `${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)} at start`;

async function workerHalf(): Promise<number> {
  const fx = path.join(FIXTURES, "tiny-llama");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "worker-fuzz-"));
  const w = await startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--model-id", "tiny-llama", "--max-new-tokens", "64", "--hub-cache", path.join(tmp, "hub")], {
    env: { HF_ENDPOINT: "http://127.0.0.1:9", HF_TOKEN: "", DATA_DIR: tmp },
  });
  let bad = 0;
  try {
    const report = await fuzzWorker({ url: w.url, seconds, seed: num("seed"), runners: num("runners"), workerPid: w.child.pid, log });
    process.stdout.write(`${formatReport(report)}\n\n`);
    bad = Object.values(report.routes).reduce((n, s) => n + s.server + s.hangs, 0) + report.stream.stallsOver500ms;
    if (report.failures.some((f) => f.answer.startsWith("connection failed"))) log(`worker log (tail):\n${w.logs().slice(-6000)}`);
  } finally {
    const exit = await w.stop();
    if (exit !== 0) {
      log(`the worker exited with ${exit}:\n${w.logs().slice(-4000)}`);
      bad++;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return bad;
}

async function trpcHalf(): Promise<number> {
  const snapshot = await snapshotWebBuild();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "trpc-fuzz-"));
  const workerPort = await freePort();
  const worker = await startDemoWorker(workerPort);
  const webPort = await freePort();
  const url = `http://127.0.0.1:${webPort}`;
  let bad = 0;
  let web: Proc | null = null;
  try {
    web = await startWeb(snapshot, webPort, { DATA_DIR: dataDir, INFERENCE_URL: `http://127.0.0.1:${workerPort}`, TRUST_PROXY: "1" });
    const owners = await Promise.all(Array.from({ length: 6 }, () => ownerCookie({ url })));
    // each stall's context: the load, the CPU pressure, the fuzzer's own lag, the servers' CPU time
    const machine = new MachineWatch({ worker: worker.child.pid, web: web.child.pid }, { worker: `http://127.0.0.1:${workerPort}/health`, web: `${url}/api/eval/ingest` });
    const contexts: StallContext[] = [];
    const watch = watchWebStream({ url, cookie: await ownerCookie({ url }), address: "198.51.100.7", onStall: (gap) => contexts.push(machine.stall(gap)) });
    let report;
    try {
      report = await fuzzTrpc({ url, seconds, callers: { owners }, seed: num("seed"), runners: num("runners"), log });
    } finally {
      await watch.stop();
      machine.stop();
    }
    const stream = { events: watch.events(), runs: watch.runs(), maxGapMs: watch.maxGapMs(), stalls: watch.stalls(), errors: watch.errors(), contexts };
    process.stdout.write(`${formatTrpcReport(report, stream)}\n\n`);
    bad = Object.values(report.procedures).reduce((n, s) => n + s.server + s.hangs + s.dropped, 0) + stream.stalls;
    // still serving afterwards
    const up = await fetch(`${url}/api/eval/ingest`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.ok, () => false);
    if (!up) {
      log("the web server stopped answering after the fuzz");
      bad++;
    }
    const failed = web.output().split("\n").filter((l) => l.includes("tRPC failed on"));
    if (failed.length) log(`the web server logged ${failed.length} internal errors, e.g.:\n${[...new Set(failed)].slice(0, 8).join("\n")}`);
  } finally {
    if (web) {
      const logFile = path.join(os.tmpdir(), "trpc-fuzz-web.log");
      fs.writeFileSync(logFile, web.output());
      log(`the web server's log: ${logFile}`);
      await stopGently(web);
    }
    await stopGently(worker);
    snapshot.remove();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return bad;
}

const commit = spawnSync("git", ["log", "-1", "--format=%h %s"], { cwd: ROOT, encoding: "utf8" }).stdout.trim().slice(0, 100);
process.stdout.write(`Machine: ${machine}\nCommit: ${commit}\n\n`);
let bad = 0;
if (only !== "trpc") bad += await workerHalf();
if (only !== "worker") bad += await trpcHalf();
process.exit(bad > 0 ? 1 : 0);
