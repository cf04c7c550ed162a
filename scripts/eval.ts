/**
 * `npm run eval -- [--adapters a,b[:task]] [--limit N] [--concurrency C] [--json] [--compare N | --no-compare] [--no-store]`
 *
 * Measures the bundled mini LoRA Land adapters as LoRA Land did: each adapter and the base model
 * on the adapter's task test split, greedy, scored by the demo's rules, with C requests in flight
 * across all adapters at once. Starts the built-in worker on the bundled model unless
 * INFERENCE_URL points at a running one (ours, LoRAX, or OpenAI-compatible with
 * INFERENCE_PROTOCOL=openai). Then measures examples/s with all adapters in flight vs one adapter
 * at a time, and stores the run: in Postgres with DATABASE_URL; else through the running web app
 * when it owns DATA_DIR (PGlite admits one process); else in DATA_DIR's PGlite directly.
 *
 * `--json` prints `[{"slug","metric","fine_tuned","base","n"}]` as the last line of stdout.
 * The built-in worker's weight format follows MODEL_DTYPE (auto|f32|bf16|f16|q8|q4), logged.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { openDb, pgliteDirFor } from "../db/client";
import { prepareDb } from "../db/migrate";
import { ingestEvalRun } from "../server/db-queries/evals";
import { EnvError, parseEnv, type Env } from "../server/env";
import { checkIngestRun, INGEST_PATH, type IngestRun } from "../server/eval/ingest";
import { ingestFingerprint, INGEST_SECRET_HEADER, readIngestSecret } from "../server/eval/ingest-secret";
import { compareThroughput, runEval, type EvalTask, type ThroughputComparison, type WorkerEndpoint } from "../server/eval/runner";
import { DEFAULT_TASKS_DIR, loadTaskCards, loadTestExamples } from "../server/eval/tasks";
import { startWorker, type WorkerProcess } from "../server/eval/worker-process";
import { requestJson } from "../server/inference/client";
import { infoSchema } from "../server/inference/wire";

const ROOT = process.cwd();
const BUNDLED_MODEL_DIR = path.join(ROOT, "data/demo/base");
const log = (line: string) => process.stderr.write(`${line}\n`);

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer (got "${value}")`);
  return n;
}

function parseCli(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      adapters: { type: "string" },
      limit: { type: "string" },
      concurrency: { type: "string" },
      json: { type: "boolean", default: false },
      compare: { type: "string" },
      "no-compare": { type: "boolean", default: false },
      "no-store": { type: "boolean", default: false },
      "tasks-dir": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    adapters: values.adapters?.split(",").map((s) => s.trim()).filter(Boolean) ?? null,
    limit: positiveInt("limit", values.limit, null),
    concurrency: positiveInt("concurrency", values.concurrency, 16)!,
    json: values.json!,
    compare: values["no-compare"] ? 0 : positiveInt("compare", values.compare, 32)!,
    store: !values["no-store"],
    tasksDir: values["tasks-dir"] ?? DEFAULT_TASKS_DIR,
    help: values.help!,
  };
}

const USAGE = `usage: npm run eval -- [--adapters a,b,...] [--limit N] [--concurrency C] [--json]
                        [--compare N | --no-compare] [--no-store] [--tasks-dir DIR]
  --adapters     adapters to evaluate (default: every bundled adapter), each "id" (on its own task card)
                 or "id:task" (e.g. my-sql:sql); the base model always runs too
  --limit        first N rows of each test split (default: all)
  --concurrency  requests in flight (default 16)
  --compare      rows per adapter for the concurrent vs one-at-a-time throughput check (default 32;
                 at least --concurrency, so one adapter alone can fill the batch)
  --json         print [{"slug","metric","fine_tuned","base","n"}] as the last stdout line`;

/** A progress bar on a terminal; a line every 10% otherwise. */
function progressReporter(total: number) {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastDecile = -1;
  return (done: number) => {
    const frac = total ? done / total : 1;
    const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
    const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
    if (tty) {
      const width = 30;
      const filled = Math.round(frac * width);
      process.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${rate.toFixed(1)} req/s eta ${eta}s  `);
      if (done === total) process.stderr.write("\n");
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        log(`[eval] ${done}/${total} requests (${rate.toFixed(1)}/s)`);
      }
    }
  };
}

/** The served model id and, from our worker, the base weights' format (MODEL_DTYPE / --dtype) and why. */
async function workerModel(url: string): Promise<{ id: string | null; weights: string | null }> {
  try {
    const info = await requestJson(`${url}/info`, infoSchema, { signal: AbortSignal.timeout(5000) });
    const weights = typeof info.weight_dtype === "string" ? `${info.weight_dtype}${typeof info.weight_dtype_reason === "string" ? ` (${info.weight_dtype_reason})` : ""}` : null;
    return { id: info.model_id?.trim() || null, weights };
  } catch {
    return { id: null, weights: null };
  }
}

/**
 * Is the web app that owns this DATA_DIR running? Its GET /api/eval/ingest answers a fingerprint
 * of DATA_DIR/ingest-secret (it creates the file if needed): the same as ours → same DATA_DIR.
 * Returns its URL and the secret to hand results over with.
 */
async function runningApp(env: Env): Promise<{ url: string; secret: string } | null> {
  const url = `http://127.0.0.1:${env.PORT}`;
  try {
    const res = await fetch(url + INGEST_PATH, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return null;
    const body = (await res.json()) as { ingest?: string };
    const secret = readIngestSecret(env.DATA_DIR);
    return secret && body.ingest === ingestFingerprint(secret) ? { url, secret } : null;
  } catch {
    return null;
  }
}

async function store(env: Env, run: IngestRun): Promise<string> {
  if (!env.DATABASE_URL) {
    const found = await runningApp(env);
    if (found) {
      const app = found.url;
      const res = await fetch(app + INGEST_PATH, {
        method: "POST",
        headers: { "content-type": "application/json", [INGEST_SECRET_HEADER]: found.secret },
        body: JSON.stringify(run),
      });
      const body = (await res.json().catch(() => ({}))) as { id?: number; error?: string };
      if (!res.ok) throw new Error(`the web app at ${app} refused the results: ${body.error ?? res.status}`);
      return `eval run #${body.id} (handed to the web app at ${app})`;
    }
  }
  if (!env.DATABASE_URL) fs.mkdirSync(env.DATA_DIR, { recursive: true });
  const handle = await openDb({ databaseUrl: env.DATABASE_URL, pgliteDir: pgliteDirFor(env.DATA_DIR), max: 2 });
  try {
    await prepareDb(handle, ROOT);
    // the same rules as the app's ingest: own task card, headline from full-split runs only
    const headline = await checkIngestRun(handle.db, run);
    const stored = await ingestEvalRun(handle.db, { origin: "cli", ...run, headline });
    return `eval run #${stored.id} (${handle.driver}${env.DATABASE_URL ? "" : ` at ${pgliteDirFor(env.DATA_DIR)}`})`;
  } finally {
    await handle.close();
  }
}

const pct = (x: number | null) => (x === null ? "   -  " : `${(x * 100).toFixed(1).padStart(5)}%`);

async function main(argv: string[]): Promise<number> {
  let opts;
  let env: Env;
  try {
    opts = parseCli(argv);
    env = parseEnv(process.env);
  } catch (err) {
    if (err instanceof UsageError || err instanceof EnvError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      log(`${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (opts.help) {
    log(USAGE);
    return 0;
  }

  const cards = loadTaskCards(opts.tasksDir);
  // "id" evaluates adapter `id` on its own task card; "id:task" on another card (a user adapter).
  // The base model always runs next to each adapter; "base" in the list is accepted and implied.
  const picks = (opts.adapters ?? cards.map((c) => c.slug))
    .filter((s) => s !== "base")
    .map((entry) => {
      const [id, task = id] = entry.split(":");
      return { id: id!, task };
    });
  const unknown = picks.filter((p) => !cards.some((c) => c.slug === p.task));
  if (unknown.length) {
    log(`--adapters: no task card for ${unknown.map((p) => p.task).join(", ")} (known: ${cards.map((c) => c.slug).join(", ")}; use id:task for an adapter of your own)`);
    return 2;
  }
  const slugs = picks.map((p) => p.id);
  const tasks: EvalTask[] = picks.map(({ id, task }) => {
    const card = cards.find((c) => c.slug === task)!;
    return { slug: id, card, adapterId: id, examples: loadTestExamples(card, { tasksDir: opts.tasksDir, limit: opts.limit ?? undefined }) };
  });

  let worker: WorkerProcess | null = null;
  const stopWorker = () => worker?.stop();
  process.once("SIGINT", () => void stopWorker()?.finally(() => process.exit(130)));
  try {
    let url: string;
    if (env.INFERENCE_URL) {
      url = env.INFERENCE_URL;
      log(`[eval] using the worker at ${url} (${env.INFERENCE_PROTOCOL})`);
      const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) }).catch((err: Error) => err);
      if (health instanceof Error) {
        log(`[eval] INFERENCE_URL: nothing answers at ${url} (${(health.cause as Error | undefined)?.message ?? health.message})`);
        return 1;
      }
      if (health.status === 503) log("[eval] the worker is still loading its model; requests will wait for it");
    } else {
      log(`[eval] starting the built-in worker on ${path.relative(ROOT, env.MODEL_DIR) || env.MODEL_DIR} ...`);
      const t0 = Date.now();
      worker = await startWorker({
        root: ROOT,
        modelDir: env.MODEL_DIR,
        adaptersDir: env.ADAPTERS_DIR,
        modelId: path.resolve(env.MODEL_DIR) === BUNDLED_MODEL_DIR ? "loraland-mini" : undefined,
      });
      url = worker.url;
      log(`[eval] worker ready at ${url} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
    const served = await workerModel(url);
    const modelId = served.id ?? "unknown";
    if (served.weights) log(`[eval] base weights: ${served.weights}`);
    const endpoint: WorkerEndpoint = { url, protocol: env.INFERENCE_PROTOCOL, baseModelId: modelId === "unknown" ? "" : modelId, idleTimeoutMs: env.WORKER_IDLE_TIMEOUT_S * 1000 };

    const total = tasks.reduce((a, t) => a + t.examples.length, 0) * 2;
    log(`[eval] ${tasks.length} adapter${tasks.length === 1 ? "" : "s"} + base on ${modelId}: ${total} requests, ${opts.concurrency} in flight`);
    const startedAt = new Date();
    const progress = progressReporter(total);
    const out = await runEval({ endpoint, tasks, concurrency: opts.concurrency, onProgress: (p) => progress(p.done) });
    const finishedAt = new Date();

    let throughput: ThroughputComparison | null = null;
    if (opts.compare > 0) {
      log(`[eval] throughput: ${opts.compare} rows per adapter, all adapters in flight vs one adapter at a time ...`);
      throughput = await compareThroughput({ endpoint, tasks, perAdapter: opts.compare, concurrency: opts.concurrency });
    }

    log("");
    log(`slug            metric        fine-tuned   base     n`);
    for (const r of out.results) log(`${r.slug.padEnd(15)} ${r.metric.padEnd(12)} ${pct(r.fineTuned)}   ${pct(r.base)}  ${String(r.n).padStart(4)}`);
    log(`[eval] ${out.requests} requests in ${(out.wallMs / 1000).toFixed(1)}s: ${out.requestsPerSecond.toFixed(2)} req/s (${opts.concurrency} in flight)`);
    if (throughput) {
      log(
        `[eval] examples/s, ${throughput.adapters} adapters x ${throughput.perAdapter} rows, ${throughput.concurrency} in flight: ` +
          `all adapters concurrently ${throughput.concurrentExamplesPerSecond.toFixed(2)}, one adapter at a time ${throughput.sequentialExamplesPerSecond.toFixed(2)}`,
      );
    }

    if (opts.store) {
      const where = await store(env, {
        modelId, workerUrl: url, protocol: env.INFERENCE_PROTOCOL, adapters: slugs, exampleLimit: opts.limit, concurrency: opts.concurrency,
        total: out.requests, startedAt, finishedAt, wallMs: out.wallMs, requestsPerSecond: out.requestsPerSecond, throughput,
        results: out.results.map((r) => ({ ...r, task: tasks.find((t) => t.slug === r.slug)?.card.slug })),
      });
      log(`[eval] stored as ${where}`);
    }

    if (opts.json) {
      const rows = out.results.map((r) => ({ slug: r.slug, metric: r.metric, fine_tuned: r.fineTuned, base: r.base, n: r.n }));
      process.stdout.write(`${JSON.stringify(rows)}\n`);
    }
    return 0;
  } finally {
    await stopWorker();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`[eval] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
