/**
 * What the web app knows about the worker, other than generating (server/inference/stream.ts):
 * is it up, which base model, which adapters, how busy — for both protocols it may speak.
 *
 * - lorax (our worker, LoRAX, TGI): GET /health (200 = ready, 503 = loading), /info, /adapters
 *   (ours only), /metrics (Prometheus text).
 * - openai (our worker, vLLM): GET /v1/models (base model + adapters); /health, /info and
 *   /metrics are tried too (vLLM and our worker have them).
 *
 * Results are cached for a few seconds per URL, so every page can ask without hammering it.
 */
export type InferenceProtocol = "lorax" | "openai";

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
  /** /info as the worker sent it */
  info: Record<string, unknown> | null;
  /** null when the worker has no adapter list (LoRAX loads any adapter on demand) */
  adapters: WorkerAdapter[] | null;
  metrics: PromSample[] | null;
  /** generated tokens per second since the previous sample, when the counter is known */
  tokensPerSecond: number | null;
  checkedAt: number;
}

const TIMEOUT_MS = 1500;
const CACHE_MS = 3000;

async function fetchWithTimeout(url: string, timeoutMs = TIMEOUT_MS): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(timeoutMs), cache: "no-store" });
  } catch (err) {
    // a pooled keep-alive connection the server already closed fails at once: retry once on a new one
    const reset = err instanceof Error && /other side closed|ECONNRESET|socket hang up/i.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ""}`);
    if (!reset) throw err;
    return fetch(url, { signal: AbortSignal.timeout(timeoutMs), cache: "no-store" });
  }
}

async function getJson(url: string): Promise<unknown | null> {
  try {
    const res = await fetchWithTimeout(url);
    if (!res.ok) return null;
    return await res.json();
  } catch {
    return null;
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

function toAdapter(a: Record<string, unknown>): WorkerAdapter {
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  return {
    id: String(a.id ?? a.adapter_id ?? ""),
    state: str(a.state),
    source: str(a.source),
    rank: num(a.rank),
    bytes: num(a.bytes),
    error: str(a.error),
  };
}

function adaptersFrom(body: unknown): WorkerAdapter[] | null {
  const list = Array.isArray(body) ? body : (body as { adapters?: unknown; data?: unknown } | null)?.adapters ?? (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(list)) return null;
  return list.filter((a): a is Record<string, unknown> => !!a && typeof a === "object").map(toAdapter).filter((a) => a.id);
}

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

async function probe(url: string, protocol: InferenceProtocol, previous?: WorkerStatus): Promise<WorkerStatus> {
  const checkedAt = Date.now();
  const status: WorkerStatus = {
    url, protocol, online: false, ready: false, error: null, modelId: null, info: null,
    adapters: null, metrics: null, tokensPerSecond: null, checkedAt,
  };
  let health: Response | null = null;
  try {
    health = await fetchWithTimeout(`${url}/health`);
    status.online = true;
    status.ready = health.ok;
    if (!health.ok) status.error = health.status === 503 ? "the worker is loading its model" : `health check answered ${health.status}`;
  } catch (err) {
    if (protocol === "lorax") {
      status.error = `no answer from ${url} (${err instanceof Error ? (err.cause as Error | undefined)?.message ?? err.message : String(err)})`;
      return status;
    }
  }

  const [info, adaptersBody, models, metricsText] = await Promise.all([
    getJson(`${url}/info`),
    getJson(`${url}/adapters`),
    protocol === "openai" ? getJson(`${url}/v1/models`) : Promise.resolve(null),
    fetchWithTimeout(`${url}/metrics`).then((r) => (r.ok ? r.text() : null)).catch(() => null),
  ]);

  if (info && typeof info === "object") {
    status.info = info as Record<string, unknown>;
    const id = (info as { model_id?: unknown }).model_id;
    if (typeof id === "string" && id.trim()) status.modelId = id;
  }
  status.adapters = adaptersFrom(adaptersBody);
  if (protocol === "openai") {
    const data = (models as { data?: OpenAiModel[] } | null)?.data;
    if (Array.isArray(data)) {
      status.online = true;
      if (!health) status.ready = true; // a server without /health that lists models is serving
      const split = splitOpenAiModels(data);
      status.modelId ??= split.base;
      status.adapters ??= split.adapters.map((id) => ({ id, state: null, source: null, rank: null, bytes: null, error: null }));
    } else if (!status.online) {
      status.error = `no answer from ${url}`;
      return status;
    }
  }
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

/** The worker's status, at most a few seconds old (`fresh` forces a new probe). */
export function workerStatus(url: string, protocol: InferenceProtocol, opts: { fresh?: boolean } = {}): Promise<WorkerStatus> {
  const key = `${protocol} ${url}`;
  const hit = cache.get(key);
  if (hit && !opts.fresh && Date.now() - hit.at < CACHE_MS) return hit.pending;
  const entry = { at: Date.now(), pending: probe(url, protocol, hit?.last), last: hit?.last };
  cache.set(key, entry);
  entry.pending.then((s) => (entry.last = s)).catch(() => {});
  return entry.pending;
}
