/**
 * Serving while training: N concurrent streams on the real worker (bundled model, demo adapters),
 * their inter-token latency (p50, p99 over every gap of every stream of a round), without a
 * training run, with one going (started through the `train` router and trained by the manager's
 * child process, as the web server does: the sentiment recipe's shape, r=16 on all seven
 * projections, batch 64), and without one again after it is cancelled. Also the event-loop delay
 * (p99) of this process, which hosts the manager like the web server: training is off its loop.
 *
 *   npx tsx bench/train/serving-while-training.ts [--streams 8] [--tokens 64] [--rounds 3] [--nice 10]
 *
 * Prints a Markdown table of the medians over the rounds, with the machine line (CPU, cores,
 * load average before and after: on a shared machine the figures move with the load).
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { openDb } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { seedCatalog } from "../../db/seed";
import { getTrainRun } from "../../server/db-queries/train";
import { parseEnv } from "../../server/env";
import { startWorker } from "../../server/eval/worker-process";
import { streamGeneration } from "../../server/inference/stream";
import { createCaller } from "../../server/root";
import { setTrainManager, TrainManager } from "../../server/train/manager";

const ROOT = path.resolve(import.meta.dirname, "../..");
const { values: opts } = parseArgs({
  options: { streams: { type: "string", default: "8" }, tokens: { type: "string", default: "64" }, rounds: { type: "string", default: "3" }, nice: { type: "string", default: "10" } },
});
const STREAMS = Number(opts.streams);
const TOKENS = Number(opts.tokens);
const ROUNDS = Number(opts.rounds);
/** the training process's niceness (the server's default: 10; 0 = the worker's priority) */
const NICE = Number(opts.nice);
const ADAPTERS = ["sentiment", "spam", "ner", "arithmetic", "cmudict", "e2e", "fortune_topic", "sql", "wordnet"];
const PROMPT = "Is the overall sentiment of this review positive or negative?\n\nReview: The film was long, but the acting kept me watching until the very end.\nSentiment:";

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const median = (xs: number[]) => quantile(xs, 0.5);
const load = () => os.loadavg().map((x) => x.toFixed(1)).join(" / ");

interface Round {
  p50: number;
  p99: number;
  tokensPerS: number;
  loopP99: number;
}

/** One round: N streams at once, every gap between consecutive tokens of a stream. */
async function round(url: string): Promise<Round> {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const gaps: number[] = [];
  const rates: number[] = [];
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, i) => {
      let last = 0;
      let first = 0;
      let n = 0;
      for await (const ev of streamGeneration({ baseUrl: url, protocol: "lorax" }, { prompt: PROMPT, adapterId: ADAPTERS[i % ADAPTERS.length]!, params: { max_new_tokens: TOKENS, temperature: 0, ignore_eos: true } })) {
        if (ev.type !== "token") continue;
        const t = performance.now();
        if (n === 0) first = t;
        else gaps.push(t - last);
        last = t;
        n++;
      }
      if (n > 1) rates.push((n - 1) / ((last - first) / 1000));
    }),
  );
  loop.disable();
  return { p50: quantile(gaps, 0.5), p99: quantile(gaps, 0.99), tokensPerS: median(rates), loopP99: loop.percentile(99) / 1e6 };
}

async function main() {
  const loadBefore = load();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-bench-train-"));
  const worker = await startWorker({ root: ROOT, modelDir: path.join(ROOT, "data/demo/base"), adaptersDir: path.join(ROOT, "data/demo/adapters"), modelId: "loraland-mini", env: { DATA_DIR: dataDir } });
  const h = await openDb({});
  const rows: { phase: string; rounds: Round[]; trainTps: number[] }[] = [];
  try {
    await migrateDb(h, ROOT);
    await seedCatalog(h.db, { root: ROOT });
    const env = parseEnv({ DATA_DIR: dataDir, WORKER_PORT: new URL(worker.url).port });
    const manager = new TrainManager(h.db, { dataDir, modelDir: env.MODEL_DIR, inferenceUrl: worker.url, protocol: "lorax", root: ROOT, evalAfter: false, nice: NICE, log: () => {} });
    setTrainManager(h.db, manager);
    const owner = randomUUID();
    const c = createCaller({ db: h.db, env, ownerId: owner, headers: new Headers() });

    await round(worker.url); // warm-up (adapters loaded, JIT)
    const measure = async (phase: string, runId?: number) => {
      const r: Round[] = [];
      const tps: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        r.push(await round(worker.url));
        if (runId !== undefined) {
          const run = await getTrainRun(h.db, { id: runId });
          if (run?.status !== "running") throw new Error(`the training run is ${run?.status} (${run?.error ?? ""}) during the measurement`);
          if (run.tokensPerS) tps.push(run.tokensPerS);
        }
        process.stderr.write(`${phase} round ${i + 1}: p99 ${r[i]!.p99.toFixed(1)} ms\n`);
      }
      rows.push({ phase, rounds: r, trainTps: tps });
    };

    await measure("no training");
    const run = await c.train.start({
      dataset: { kind: "demo", task: "sentiment" },
      config: { adapter: { r: 16, alpha: 32, dropout: 0.05, target_modules: "all-linear" }, trainer: { epochs: 50, batch_size: 64, learning_rate: 0.002, warmup_steps: 30, checkpoint_every: 0 } },
    });
    // measured once it trains (first step done: the model is loaded and steps are running)
    for (;;) {
      const r = await getTrainRun(h.db, { id: run.id });
      if (r!.status !== "running" && r!.status !== "queued") throw new Error(`training ended: ${r!.status} ${r!.error ?? ""}`);
      if (r!.step >= 1) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    await measure(`training (r=16, all 7 projections, batch 64, nice ${NICE})`, run.id);
    await c.train.cancel({ runId: run.id });
    await measure("no training (after cancel)");
    await manager.stop();
  } finally {
    await worker.stop();
    await h.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`\nServing while training: ${STREAMS} streams × ${TOKENS} tokens (ignore_eos), ${ROUNDS} rounds per phase, medians over rounds`);
  console.log(`Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}; load average (1/5/15 min) before ${loadBefore}, after ${load()}\n`);
  console.log("| phase | p50 inter-token (ms) | p99 inter-token (ms) | tokens/s per stream | event-loop delay p99 (ms) | training tokens/s |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    const m = (f: (x: Round) => number, d = 1) => median(r.rounds.map(f)).toFixed(d);
    console.log(`| ${r.phase} | ${m((x) => x.p50)} | ${m((x) => x.p99)} | ${m((x) => x.tokensPerS)} | ${m((x) => x.loopP99)} | ${r.trainTps.length ? median(r.trainTps).toFixed(0) : "—"} |`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
