/**
 * Runs task test splits through a worker over HTTP, as LoRA Land's harness sent its queries to
 * LoRAX REST APIs: every adapter's requests (and the base model's) are in flight at once, C at a
 * time, interleaved so the worker batches different adapters together in one forward pass.
 *
 * Protocols: `lorax` (our worker, LoRAX, TGI) `POST /generate {inputs, parameters}`; `openai`
 * (our worker, vLLM `--enable-lora`) `POST /v1/completions {model, prompt, max_tokens,
 * temperature: 0}`. Greedy, the metric's token budget, stop at EOS (the worker's default); the
 * prediction is the generated text, stripped.
 */
import { setMaxListeners } from "node:events";
import { generateText, WorkerError, type WorkerEndpoint } from "../inference/client";
import { MAX_NEW_TOKENS, mean, score, type MetricName } from "./metrics";
import type { EvalExample, TaskCard } from "./tasks";

export type { InferenceProtocol, WorkerEndpoint } from "../inference/client";

/** One task to evaluate: its card, the adapter that serves it, and the test rows. */
export interface EvalTask {
  slug: string;
  card: TaskCard;
  /** the worker's adapter id (LoRAX adapter_id / OpenAI model) */
  adapterId: string;
  examples: EvalExample[];
}

export interface ExampleResult {
  index: number;
  inputs: Record<string, string>;
  reference: string;
  prediction: string;
  basePrediction: string | null;
  score: number;
  baseScore: number | null;
  latencyMs: number;
  baseLatencyMs: number | null;
}

export interface TaskResult {
  slug: string;
  adapterId: string;
  metric: MetricName;
  n: number;
  /** mean score of the fine-tuned adapter, 0..1 */
  fineTuned: number;
  /** mean score of the base model on the same prompts; null when the base was not run */
  base: number | null;
  examples: ExampleResult[];
}

export interface EvalProgress {
  done: number;
  total: number;
  /** the task of the request that just finished */
  slug: string;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** retries on 429/503 and network errors before giving up */
  retries?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => (clearTimeout(t), reject(signal!.reason));
    const t = setTimeout(() => (signal?.removeEventListener("abort", onAbort), resolve()), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * One greedy completion: the generated text (not stripped) and the request's latency in ms.
 * `adapterId` null = the base model. Worker errors are WorkerErrors naming the adapter.
 */
export async function generateOnce(
  endpoint: WorkerEndpoint,
  prompt: string,
  adapterId: string | null,
  maxNewTokens: number,
  opts: GenerateOptions = {},
): Promise<{ text: string; latencyMs: number }> {
  const retries = opts.retries ?? 8;
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    // a signal of its own, linked to the run's and unlinked when done: fetch leaves its listener
    // on the signal it is given, and a run makes thousands of requests
    const own = new AbortController();
    const forward = () => own.abort(opts.signal?.reason);
    if (opts.signal?.aborted) forward();
    opts.signal?.addEventListener("abort", forward, { once: true });
    try {
      const text = await generateText(endpoint, { prompt, adapterId, maxNewTokens }, own.signal);
      return { text, latencyMs: performance.now() - started };
    } catch (err) {
      if (opts.signal?.aborted || !(err instanceof WorkerError)) throw err;
      if ((err.status === 0 || err.status === 429 || err.status === 503) && attempt < retries) {
        await sleep(err.retryAfterS !== null ? err.retryAfterS * 1000 : 200 * 2 ** Math.min(attempt, 4), opts.signal);
        continue;
      }
      const who = adapterId ? `adapter "${adapterId}"` : "the base model";
      throw new WorkerError(`${who}: worker answered ${err.status}: ${err.message}`, err.status, err.errorType, err.retryAfterS);
    } finally {
      opts.signal?.removeEventListener("abort", forward);
    }
  }
}

interface Job {
  task: EvalTask;
  example: EvalExample;
  /** null = the base model */
  adapterId: string | null;
}

/**
 * Requests in round-robin order over tasks (task A row 0 adapter, A row 0 base, B row 0 adapter,
 * ...), so that whatever C requests are in flight span many adapters.
 */
export function interleave(tasks: EvalTask[], withBase: boolean): Job[] {
  const jobs: Job[] = [];
  const longest = Math.max(0, ...tasks.map((t) => t.examples.length));
  for (let i = 0; i < longest; i++) {
    for (const task of tasks) {
      const example = task.examples[i];
      if (!example) continue;
      jobs.push({ task, example, adapterId: task.adapterId });
      if (withBase) jobs.push({ task, example, adapterId: null });
    }
  }
  return jobs;
}

/**
 * Run jobs with at most `concurrency` in flight; the first failure aborts the rest. With
 * `keepPartial`, an abort of `outer` (a cancel) ends the pool with the results it has (holes where
 * a job had not finished) instead of throwing.
 */
async function runPool<T>(jobs: Job[], concurrency: number, work: (job: Job, signal: AbortSignal) => Promise<T>, outer?: AbortSignal, keepPartial = false): Promise<(T | undefined)[]> {
  const controller = new AbortController();
  // each lane links its request's signal to this one (and unlinks when done), and a lane waiting
  // out a 429/503 adds its sleep's: two per lane at most
  setMaxListeners(2 * concurrency + 8, controller.signal);
  const onAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", onAbort, { once: true });
  const results = new Array<T>(jobs.length);
  let next = 0;
  let failure: unknown = null;
  const lane = async () => {
    while (failure === null && !controller.signal.aborted && next < jobs.length) {
      const i = next++;
      try {
        results[i] = await work(jobs[i]!, controller.signal);
      } catch (err) {
        if (failure === null) failure = err;
        controller.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, lane));
  } finally {
    outer?.removeEventListener("abort", onAbort);
  }
  // checked first: the requests cut off by a cancel fail with its reason, which is no failure here
  if (keepPartial && outer?.aborted) return results;
  if (failure !== null) throw failure;
  if (outer?.aborted) throw outer.reason ?? new Error("eval aborted");
  return results;
}

export interface RunEvalOptions {
  endpoint: WorkerEndpoint;
  tasks: EvalTask[];
  /** also run every prompt on the base model (default true) */
  withBase?: boolean;
  /** requests in flight (default 16) */
  concurrency?: number;
  onProgress?: (p: EvalProgress) => void;
  signal?: AbortSignal;
  /** an abort of `signal` is a cancel: score the examples already answered (both models) instead of throwing */
  keepPartial?: boolean;
}

export interface EvalRunOutput {
  /** the run was cancelled: `results` cover only the examples answered before (tasks with none are left out) */
  cancelled: boolean;
  results: TaskResult[];
  /** wall time of all requests, ms */
  wallMs: number;
  requests: number;
  /** generations per second over the whole run (fine-tuned and base requests) */
  requestsPerSecond: number;
}

/** Evaluate every task (adapter and base) with C requests in flight; scores per the demo rules. */
export async function runEval(opts: RunEvalOptions): Promise<EvalRunOutput> {
  const withBase = opts.withBase ?? true;
  const jobs = interleave(opts.tasks, withBase);
  let done = 0;
  const started = performance.now();
  const outputs = await runPool(
    jobs,
    opts.concurrency ?? 16,
    async (job, signal) => {
      const metric = job.task.card.metric;
      const out = await generateOnce(opts.endpoint, job.example.prompt, job.adapterId, MAX_NEW_TOKENS[metric], { signal });
      done++;
      opts.onProgress?.({ done, total: jobs.length, slug: job.task.slug });
      return out;
    },
    opts.signal,
    opts.keepPartial,
  );
  const wallMs = performance.now() - started;
  const cancelled = opts.signal?.aborted === true;

  const byKey = new Map<string, { text: string; latencyMs: number }>();
  jobs.forEach((job, i) => {
    const out = outputs[i];
    if (out) byKey.set(`${job.task.slug}\u0000${job.example.index}\u0000${job.adapterId === null ? "base" : "ft"}`, out);
  });
  const answered = (task: EvalTask, ex: { index: number }) =>
    byKey.has(`${task.slug}\u0000${ex.index}\u0000ft`) && (!withBase || byKey.has(`${task.slug}\u0000${ex.index}\u0000base`));
  const scored = opts.tasks.map((task) => ({ task, done: task.examples.filter((ex) => answered(task, ex)) })).filter((t) => t.done.length > 0 || !cancelled);
  const results = scored.map(({ task, done }): TaskResult => {
    const metric = task.card.metric;
    const examples = done.map((ex): ExampleResult => {
      const ft = byKey.get(`${task.slug}\u0000${ex.index}\u0000ft`)!;
      const base = withBase ? byKey.get(`${task.slug}\u0000${ex.index}\u0000base`)! : null;
      const prediction = ft.text.trim();
      const basePrediction = base ? base.text.trim() : null;
      return {
        index: ex.index,
        inputs: ex.inputs,
        reference: ex.reference,
        prediction,
        basePrediction,
        score: score(metric, prediction, ex.reference),
        baseScore: basePrediction === null ? null : score(metric, basePrediction, ex.reference),
        latencyMs: ft.latencyMs,
        baseLatencyMs: base ? base.latencyMs : null,
      };
    });
    return {
      slug: task.slug,
      adapterId: task.adapterId,
      metric,
      n: examples.length,
      fineTuned: mean(examples.map((e) => e.score)),
      base: withBase ? mean(examples.map((e) => e.baseScore ?? 0)) : null,
      examples,
    };
  });
  const requests = cancelled ? byKey.size : jobs.length;
  return { cancelled, results, wallMs, requests, requestsPerSecond: requests / (wallMs / 1000) };
}

export interface ThroughputComparison {
  /** fine-tuned requests per adapter in each mode */
  perAdapter: number;
  adapters: number;
  concurrency: number;
  /** all adapters' requests interleaved, C in flight */
  concurrentExamplesPerSecond: number;
  /** adapters one after another, each with C of its own requests in flight */
  sequentialExamplesPerSecond: number;
}

/**
 * Examples/s with every adapter in flight at once vs one adapter at a time (both with C requests
 * in flight, the same prompts, fine-tuned only): what heterogeneous batching buys a harness.
 */
export async function compareThroughput(opts: { endpoint: WorkerEndpoint; tasks: EvalTask[]; perAdapter: number; concurrency?: number; signal?: AbortSignal }): Promise<ThroughputComparison> {
  const concurrency = opts.concurrency ?? 16;
  const tasks = opts.tasks.map((t) => ({ ...t, examples: t.examples.slice(0, opts.perAdapter) }));
  const total = tasks.reduce((a, t) => a + t.examples.length, 0);
  const work = (job: Job, signal: AbortSignal) => generateOnce(opts.endpoint, job.example.prompt, job.adapterId, MAX_NEW_TOKENS[job.task.card.metric], { signal });

  let t0 = performance.now();
  await runPool(interleave(tasks, false), concurrency, work, opts.signal);
  const concurrentMs = performance.now() - t0;

  t0 = performance.now();
  for (const task of tasks) await runPool(interleave([task], false), concurrency, work, opts.signal);
  const sequentialMs = performance.now() - t0;

  return {
    perAdapter: opts.perAdapter,
    adapters: tasks.length,
    concurrency,
    concurrentExamplesPerSecond: total / (concurrentMs / 1000),
    sequentialExamplesPerSecond: total / (sequentialMs / 1000),
  };
}
