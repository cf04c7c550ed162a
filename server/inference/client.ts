/**
 * The web server's one client of the worker (ours, LoRAX/TGI, or an OpenAI-compatible server such
 * as vLLM): every request goes through `workerFetch`, every answer is parsed with the schemas of
 * wire.ts, every failure is a WorkerError. Streaming generation is in stream.ts (same fetch, same
 * schemas); this file has the rest: status, /info and its limits, one-shot generation (the eval
 * runner), adapter registration (the upload route).
 *
 * Status, for both protocols:
 * - lorax (our worker, LoRAX, TGI): GET /health (200 = ready, 503 = loading), /info, /adapters
 *   (ours only), /metrics (Prometheus text).
 * - openai (our worker, vLLM): GET /v1/models (base model + adapters); /health, /info and
 *   /metrics are tried too (vLLM and our worker have them).
 *
 * The status is cached for a few seconds per URL (the one cache of /info), so every page can ask
 * without hammering the worker.
 */
import type { z } from "zod";
import { DEFAULT_WORKER_IDLE_TIMEOUT_S, inferenceUrl, type Env } from "../env";
import {
  adapterListSchema,
  completionResponseSchema,
  describeIssue,
  errorFromResponse,
  generateResponseSchema,
  infoSchema,
  modelListSchema,
  registeredAdapterSchema,
  WorkerError,
  type InferenceProtocol,
} from "./wire";

export { WorkerError, type InferenceProtocol } from "./wire";

export interface WorkerAdapter {
  id: string;
  /** disk | loading | host | resident | failed (our worker); null when the server does not say */
  state: string | null;
  source: string | null;
  rank: number | null;
  bytes: number | null;
  error: string | null;
}

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The worker's own request limits (from /info); null = it does not say, so nothing is checked. */
export interface WorkerLimits {
  maxNewTokens: number | null;
  maxStopSequences: number | null;
  maxInputBytes: number | null;
}

export interface WorkerStatus {
  url: string;
  protocol: InferenceProtocol;
  /** answered at all */
  online: boolean;
  /** /health said 200 (model loaded, requests can be served) */
  ready: boolean;
  /** why offline or not ready */
  error: string | null;
  /** the base model the worker serves (LoRAX /info model_id; the OpenAI base model id) */
  modelId: string | null;
  /** /info as the worker sent it (when it is a valid /info) */
  info: Record<string, unknown> | null;
  limits: WorkerLimits;
  /** null when the worker has no adapter list (LoRAX loads any adapter on demand) */
  adapters: WorkerAdapter[] | null;
  metrics: PromSample[] | null;
  /** generated tokens per second since the previous sample, when the counter is known */
  tokensPerSecond: number | null;
  checkedAt: number;
}

/** Where generation requests go (stream.ts), and how long a silent stream is waited for. */
export interface WorkerTarget {
  /** e.g. http://127.0.0.1:8081 (no trailing slash needed) */
  baseUrl: string;
  protocol: InferenceProtocol;
  /** the base model's id on an OpenAI server (`model` when no adapter is asked for) */
  baseModelId?: string;
  /** a stream that sends no byte for this long ends with an error (default WORKER_IDLE_TIMEOUT_S) */
  idleTimeoutMs?: number;
}

const TIMEOUT_MS = 1500;
const CACHE_MS = 3000;
export const DEFAULT_IDLE_TIMEOUT_MS = DEFAULT_WORKER_IDLE_TIMEOUT_S * 1000;

export function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Node's own fetch. Inside Next's server, `globalThis.fetch` is Next's caching wrapper, which may
 * tee the body into its fetch cache and deliver a stream late and all at once: the worker's
 * tokens would reach the browser in one burst.
 */
export function workerFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const f = globalThis.fetch as typeof fetch & { _nextOriginalFetch?: typeof fetch };
  return (f._nextOriginalFetch ?? f)(url, { ...init, cache: "no-store" });
}

/** Why a fetch failed, for a message (undici hides the reason in `cause`). */
export function fetchFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as Error | undefined;
  return cause?.message ?? err.message;
}

async function fetchWithTimeout(url: string, timeoutMs = TIMEOUT_MS): Promise<Response> {
  try {
    return await workerFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    // a pooled keep-alive connection the server already closed fails at once: retry once on a new one
    const reset = err instanceof Error && /other side closed|ECONNRESET|socket hang up/i.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ""}`);
    if (!reset) throw err;
    return workerFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  }
}

/** A body parsed with `schema`, or a WorkerError (502 bad_response) naming what was wrong with it. */
export function parseWorkerBody<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new WorkerError(`the worker's answer to ${what} is malformed (${describeIssue(r.error)})`, 502, "bad_response");
  return r.data;
}

/**
 * One JSON request to the worker: the parsed answer, or a WorkerError (unreachable → status 0;
 * an error status → the worker's own message; a malformed answer → 502; with `idleTimeoutMs`, no
 * byte of the answer for that long → 504 worker_timeout, and the request is closed).
 */
export async function requestJson<T extends z.ZodType>(
  url: string,
  schema: T,
  init: RequestInit & { body?: string; idleTimeoutMs?: number } = {},
): Promise<z.infer<T>> {
  const { idleTimeoutMs, signal, ...rest } = init;
  const path = new URL(url).pathname;
  // the request's own signal: the caller's abort, or the worker's silence, ends it
  const own = new AbortController();
  const forward = () => own.abort(signal?.reason);
  if (signal?.aborted) forward();
  signal?.addEventListener("abort", forward, { once: true });
  const silent = idleTimeoutMs === undefined ? null : new WorkerError(
    `the worker sent nothing for ${idleTimeoutMs / 1000} s, so the request to ${path} was ended (WORKER_IDLE_TIMEOUT_S)`,
    504,
    "worker_timeout",
  );
  let timer: NodeJS.Timeout | undefined;
  // (re)armed at the start and on every byte received: the headers, each chunk of the body
  const arm = () => {
    if (!silent) return;
    clearTimeout(timer);
    timer = setTimeout(() => own.abort(silent), idleTimeoutMs);
  };
  const failure = (err: unknown, otherwise: () => unknown) => {
    if (silent && own.signal.reason === silent) return silent;
    if (signal?.aborted) return signal.reason ?? err;
    return otherwise();
  };
  try {
    let res: Response;
    arm();
    try {
      res = await workerFetch(url, { ...rest, signal: own.signal, headers: rest.body ? { "content-type": "application/json", ...rest.headers } : rest.headers });
    } catch (err) {
      throw failure(err, () => new WorkerError(`the inference worker at ${new URL(url).origin} is unreachable (${fetchFailure(err)})`, 0, "unreachable"));
    }
    arm();
    let text = "";
    try {
      if (!res.ok) throw await errorFromResponse(res);
      if (res.body) {
        const decoder = new TextDecoder();
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          arm();
          text += decoder.decode(value, { stream: true });
        }
        text += decoder.decode();
      }
    } catch (err) {
      throw failure(err, () => (err instanceof WorkerError ? err : new WorkerError(`the worker's answer to ${path} was cut off (${fetchFailure(err)})`, 502, "bad_response")));
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new WorkerError(`the worker's answer to ${path} is not JSON: ${text.slice(0, 100)}`, 502, "bad_response");
    }
    return parseWorkerBody(schema, json, path);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", forward);
  }
}

/** GET a JSON document for the status probe: null when absent, failed or malformed (with why). */
async function probeJson<T extends z.ZodType>(url: string, schema: T, timeoutMs: number): Promise<{ data: z.infer<T> | null; malformed: string | null }> {
  try {
    const res = await fetchWithTimeout(url, timeoutMs);
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return { data: null, malformed: null };
    }
    const r = schema.safeParse(await res.json());
    return r.success ? { data: r.data, malformed: null } : { data: null, malformed: `${new URL(url).pathname} is malformed (${describeIssue(r.error)})` };
  } catch {
    return { data: null, malformed: null };
  }
}

/** Prometheus text exposition → samples (comments and malformed lines skipped). */
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
  for (const raw of text.split("\n")) {
    const l = raw.trim();
    if (!l || l.startsWith("#")) continue;
    const m = line.exec(l);
    if (!m) continue;
    const value = Number(m[4]);
    if (!Number.isFinite(value) && !/^[+-]?Inf$|^NaN$/.test(m[4]!)) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, "$1");
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sum of a metric's samples (all label sets), the `_total` suffix optional; null when absent. */
export function metricSum(samples: PromSample[] | null, ...names: string[]): number | null {
  if (!samples) return null;
  for (const name of names) {
    const hits = samples.filter((s) => s.name === name || s.name === `${name}_total`);
    if (hits.length) return hits.reduce((a, s) => a + s.value, 0);
  }
  return null;
}

/** Names under which servers count generated tokens (ours, TGI/LoRAX, vLLM). */
export const GENERATED_TOKEN_COUNTERS = [
  "worker_engine_generated_tokens",
  "worker_generated_tokens",
  "worker_tokens_out",
  "lorax_request_generated_tokens_sum",
  "tgi_request_generated_tokens_sum",
  "vllm:generation_tokens",
];

interface OpenAiModel {
  id: string;
  parent?: string | null;
  root?: string | null;
}

/** Base model and adapters from /v1/models: adapters name a `parent` (vLLM); else the first is the base. */
export function splitOpenAiModels(models: OpenAiModel[]): { base: string | null; adapters: string[] } {
  const withParent = models.filter((m) => m.parent);
  if (withParent.length) {
    const base = withParent[0]!.parent!;
    return { base, adapters: withParent.map((m) => m.id) };
  }
  const [first, ...rest] = models;
  return { base: first?.id ?? null, adapters: rest.map((m) => m.id) };
}

const NO_LIMITS: WorkerLimits = { maxNewTokens: null, maxStopSequences: null, maxInputBytes: null };

async function probe(url: string, protocol: InferenceProtocol, previous: WorkerStatus | undefined, timeoutMs: number): Promise<WorkerStatus> {
  const checkedAt = Date.now();
  const status: WorkerStatus = {
    url, protocol, online: false, ready: false, error: null, modelId: null, info: null, limits: NO_LIMITS,
    adapters: null, metrics: null, tokensPerSecond: null, checkedAt,
  };
  let health: Response | null = null;
  try {
    health = await fetchWithTimeout(`${url}/health`, timeoutMs);
    await health.body?.cancel().catch(() => {});
    status.online = true;
    status.ready = health.ok;
    if (!health.ok) status.error = health.status === 503 ? "the worker is loading its model" : `health check answered ${health.status}`;
  } catch (err) {
    if (protocol === "lorax") {
      status.error = `no answer from ${url} (${fetchFailure(err)})`;
      return status;
    }
  }

  const [info, adapters, models, metricsText] = await Promise.all([
    probeJson(`${url}/info`, infoSchema, timeoutMs),
    probeJson(`${url}/adapters`, adapterListSchema, timeoutMs),
    protocol === "openai" ? probeJson(`${url}/v1/models`, modelListSchema, timeoutMs) : Promise.resolve({ data: null, malformed: null }),
    fetchWithTimeout(`${url}/metrics`, timeoutMs).then((r) => (r.ok ? r.text() : null)).catch(() => null),
  ]);

  if (info.data) {
    status.info = info.data;
    status.modelId = info.data.model_id?.trim() || null;
    status.limits = { maxNewTokens: info.data.max_new_tokens ?? null, maxStopSequences: info.data.max_stop_sequences ?? null, maxInputBytes: info.data.max_input_bytes ?? null };
  }
  status.adapters = adapters.data;
  if (protocol === "openai") {
    if (models.data) {
      status.online = true;
      if (!health) status.ready = true; // a server without /health that lists models is serving
      const split = splitOpenAiModels(models.data.data);
      status.modelId ??= split.base;
      status.adapters ??= split.adapters.map((id) => ({ id, state: null, source: null, rank: null, bytes: null, error: null }));
    } else if (!status.online) {
      status.error = `no answer from ${url}`;
      return status;
    }
  }
  // an answer we cannot read is said, not silently taken as "no model" / "no adapters"
  const malformed = [info.malformed, adapters.malformed, models.malformed].filter(Boolean);
  if (malformed.length) status.error = [status.error, `the worker's ${malformed.join("; ")}`].filter(Boolean).join("; ");
  if (metricsText) {
    status.metrics = parsePrometheus(metricsText);
    const now = metricSum(status.metrics, ...GENERATED_TOKEN_COUNTERS);
    const before = metricSum(previous?.metrics ?? null, ...GENERATED_TOKEN_COUNTERS);
    if (now !== null && before !== null && previous && checkedAt > previous.checkedAt && now >= before) {
      status.tokensPerSecond = ((now - before) * 1000) / (checkedAt - previous.checkedAt);
    }
  }
  return status;
}

type Cache = Map<string, { at: number; pending: Promise<WorkerStatus>; last?: WorkerStatus }>;
const g = globalThis as typeof globalThis & { __loralandWorkerCache?: Cache };
const cache: Cache = (g.__loralandWorkerCache ??= new Map());

/**
 * The worker's status, at most a few seconds old (`fresh` forces a new probe; `timeoutMs` bounds
 * each of its requests, default 1.5 s: pages poll it).
 */
export function workerStatus(url: string, protocol: InferenceProtocol, opts: { fresh?: boolean; timeoutMs?: number } = {}): Promise<WorkerStatus> {
  const key = `${protocol} ${url}`;
  const hit = cache.get(key);
  if (hit && !opts.fresh && Date.now() - hit.at < CACHE_MS) return hit.pending;
  const entry = { at: Date.now(), pending: probe(url, protocol, hit?.last, opts.timeoutMs ?? TIMEOUT_MS), last: hit?.last };
  cache.set(key, entry);
  entry.pending.then((s) => (entry.last = s)).catch(() => {});
  return entry.pending;
}

/**
 * The worker's limits without waiting on the request path: those of the last status seen (a
 * newer probe starts in the background when it is stale); the first call waits for one probe.
 */
export async function workerLimits(url: string, protocol: InferenceProtocol): Promise<WorkerLimits> {
  const known = cache.get(`${protocol} ${url}`)?.last;
  const pending = workerStatus(url, protocol);
  if (known?.info) {
    pending.catch(() => {});
    return known.limits;
  }
  return (await pending).limits;
}

/** The generation target of this web server: the worker of `env`, with the idle timeout it sets. */
export async function envTarget(env: Env): Promise<WorkerTarget> {
  const baseUrl = inferenceUrl(env);
  const idleTimeoutMs = env.WORKER_IDLE_TIMEOUT_S * 1000;
  if (env.INFERENCE_PROTOCOL !== "openai") return { baseUrl, protocol: "lorax", idleTimeoutMs };
  const status = await workerStatus(baseUrl, "openai");
  return { baseUrl, protocol: "openai", baseModelId: status.modelId ?? undefined, idleTimeoutMs };
}

/** The served base model's id (fresh), or a WorkerError saying why there is none. */
export async function servedModelId(url: string, protocol: InferenceProtocol): Promise<string> {
  // a worker busy generating may answer slowly; this is not a page's poll
  const s = await workerStatus(url, protocol, { fresh: true, timeoutMs: 10_000 });
  if (s.modelId) return s.modelId;
  throw new WorkerError(
    s.online ? `the worker at ${url} did not report its base model${s.error ? ` (${s.error})` : ""}` : `the worker at ${url} is not answering${s.error ? ` (${s.error})` : ""}`,
    s.online ? 502 : 0,
    s.online ? "bad_response" : "unreachable",
  );
}

// ── one-shot generation (the eval runner) ────────────────────────────────────────────────────
export interface WorkerEndpoint {
  url: string;
  protocol: InferenceProtocol;
  /** OpenAI `model` for the base model (our worker and vLLM accept their model id; "" works on ours) */
  baseModelId?: string;
  /**
   * a request that receives no byte for this long ends with a 504 WorkerError (default
   * WORKER_IDLE_TIMEOUT_S's default). A non-streamed answer sends nothing until it is done, so
   * this bounds the whole request, its wait in the worker's queue included.
   */
  idleTimeoutMs?: number;
}

/**
 * One greedy, non-streamed completion: the generated text. LoRAX/TGI `POST /generate`;
 * OpenAI `POST /v1/completions` with temperature 0. `adapterId` null = the base model. A worker
 * that sends nothing for the endpoint's idle timeout fails it (504 worker_timeout), never hangs.
 */
export async function generateText(
  endpoint: WorkerEndpoint,
  req: { prompt: string; adapterId: string | null; maxNewTokens: number },
  signal?: AbortSignal,
): Promise<string> {
  const url = trimSlash(endpoint.url);
  const idleTimeoutMs = endpoint.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (endpoint.protocol === "lorax") {
    const parameters = { ...(req.adapterId ? { adapter_id: req.adapterId } : {}), max_new_tokens: req.maxNewTokens, do_sample: false };
    const body = await requestJson(`${url}/generate`, generateResponseSchema, { method: "POST", body: JSON.stringify({ inputs: req.prompt, parameters }), signal, idleTimeoutMs });
    return body.generated_text;
  }
  const payload = { model: req.adapterId ?? endpoint.baseModelId ?? "", prompt: req.prompt, max_tokens: req.maxNewTokens, temperature: 0 };
  const body = await requestJson(`${url}/v1/completions`, completionResponseSchema, { method: "POST", body: JSON.stringify(payload), signal, idleTimeoutMs });
  return body.choices[0]!.text;
}

// ── adapters (our worker's /adapters) ─────────────────────────────────────────────────────────
/**
 * Register an adapter with the worker (`POST /adapters`); a WorkerError when it refuses, or (with
 * `idleTimeoutMs`) a 504 when it answers nothing for that long (a Hub repo is downloaded first).
 */
export async function registerAdapter(url: string, payload: { id: string; source: "local" | "hub"; path?: string; repo?: string }, signal?: AbortSignal, idleTimeoutMs?: number): Promise<void> {
  await requestJson(`${trimSlash(url)}/adapters`, registeredAdapterSchema, { method: "POST", body: JSON.stringify(payload), signal, idleTimeoutMs });
}

/** Unregister an adapter (`DELETE /adapters/:id`); false when the worker did not (unreachable, unknown id). */
export async function unregisterAdapter(url: string, id: string): Promise<boolean> {
  try {
    const res = await workerFetch(`${trimSlash(url)}/adapters/${encodeURIComponent(id)}`, { method: "DELETE", signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel().catch(() => {});
    return res.ok;
  } catch {
    return false;
  }
}

