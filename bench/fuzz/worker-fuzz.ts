/**
 * Property-based fuzzing of every worker route (fast-check): generated bodies — near-valid ones
 * with edge values in every field, arbitrary JSON, deep nesting, huge strings, bytes that are not
 * JSON — sent by a few concurrent runners for a fixed time, while one long stream runs beside
 * them. Counted per route: bodies tried, 2xx/4xx, 5xx (goal 0), hangs (no answer in 15 s, goal 0);
 * and the stream's stalls: gaps over 500 ms between two of its events (goal 0). A 5xx or a hang
 * fails the property, so fast-check shrinks it to a small body, printed at the end.
 *
 *   npm run fuzz:worker -- [--seconds 60] [--seed N] [--runners 3]
 *
 * `fuzzWorker` is also run for a few seconds by tests/worker/fuzz-smoke.test.ts (5xx and hangs
 * only: a stall depends on the machine's load, so only this script reports it).
 */
import fc from "fast-check";
import { formatStalls, MachineWatch, type StallContext } from "./machine-watch";
import { watchStream, type StreamWatch } from "./stream-watch";

export interface RouteStats {
  tried: number;
  ok: number;
  client: number;
  server: number;
  hangs: number;
}

export interface FuzzReport {
  seconds: number;
  seed: number;
  routes: Record<string, RouteStats>;
  /** every 5xx or hang: route, status, a preview of the body (the first few) */
  failures: { route: string; status: number | "hang"; body: string; answer: string }[];
  /** shrunk counterexamples, one per runner that found one */
  shrunk: string[];
  stream: { events: number; restarts: number; maxGapMs: number; stallsOver500ms: number; stalls: StallContext[] };
}

interface Req {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** a JSON value to send, or raw text (not JSON) */
  body?: { json: unknown } | { raw: string };
}

const HANG_MS = 15_000;

// ---- arbitraries ------------------------------------------------------------------------------

const edgeNumber = fc.oneof(
  fc.constantFrom(0, -1, 1, 0.5, 2, 64, 65, 100, 1e9, -1e9, 2 ** 31, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, 1e-300),
  fc.integer({ min: -5, max: 300 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const edgeString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("", " ", "</s>", "<s>", "\u0000", "\uFFFD", "\uD800", "../../etc/passwd", "org/qv", "qv-r8", "tiny-llama", "a".repeat(300), "é".repeat(50), "🦙".repeat(20)),
  fc.string({ unit: "binary", maxLength: 60 }),
);
/** anything a field could be given */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: edgeNumber },
  { weight: 4, arbitrary: edgeString },
  { weight: 2, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.array(fc.oneof(edgeString, edgeNumber), { maxLength: 20 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
/** sometimes the expected kind of value, sometimes anything */
const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: anyValue });
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

const prompt = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40_000 }).map((n) => "lorem ipsum ".repeat(n)) }, // up to ~480 KB
);
const adapter = fc.constantFrom(null, "", "tiny-llama", "qv-r8", "all-r16", "attn-r2", "mlp-r4-rs", "nope", "org/nothing", "../x");
const small = fc.integer({ min: 0, max: 80 });
const prob = fc.double({ min: 0, max: 1, noNaN: true });

const loraxParameters = fc.record(
  {
    adapter_id: field(adapter),
    adapter_source: field(fc.constantFrom("local", "hub")),
    max_new_tokens: field(fc.integer({ min: 1, max: 64 })),
    temperature: field(fc.double({ min: 0, max: 3, noNaN: true })),
    top_k: field(small),
    top_p: field(prob),
    typical_p: field(prob),
    repetition_penalty: field(fc.double({ min: 0, max: 3, noNaN: true })),
    frequency_penalty: field(fc.double({ min: -3, max: 3, noNaN: true })),
    presence_penalty: field(fc.double({ min: -3, max: 3, noNaN: true })),
    do_sample: field(fc.boolean()),
    seed: field(fc.integer({ min: -1, max: 2 ** 33 })),
    stop: field(fc.array(edgeString, { maxLength: 20 })),
    ignore_eos_token: field(fc.boolean()),
    return_full_text: field(fc.boolean()),
    details: field(fc.boolean()),
    decoder_input_details: field(fc.boolean()),
    return_k_alternatives: field(fc.integer({ min: 0, max: 25 })),
    top_n_tokens: field(fc.integer({ min: 0, max: 25 })),
    truncate: field(fc.integer({ min: 0, max: 300 })),
    best_of: field(fc.integer({ min: 0, max: 3 })),
    watermark: field(fc.boolean()),
  },
  { requiredKeys: [] },
);

const loraxBody = fc.record({ inputs: field(prompt), parameters: maybe(field(loraxParameters)), stream: maybe(field(fc.boolean())) }, { requiredKeys: [] });

// mostly valid values (the junk comes from `field`), so requests also reach the engine
const openaiCommon = {
  model: field(adapter),
  temperature: field(fc.double({ min: 0, max: 2, noNaN: true })),
  top_p: field(fc.double({ min: 0.01, max: 1, noNaN: true })),
  n: field(fc.constant(1)),
  stream: field(fc.boolean()),
  stream_options: field(fc.record({ include_usage: field(fc.boolean()) })),
  stop: field(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 4 }))),
  seed: field(fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  max_tokens: field(fc.integer({ min: 1, max: 64 })),
  logit_bias: field(fc.constant({})),
  adapter_source: field(fc.constantFrom("local", "hub")),
  ignore_eos: field(fc.boolean()),
};
const tokenIds = fc.array(fc.integer({ min: 0, max: 520 }), { minLength: 1, maxLength: 300 });
const completionBody = fc.record(
  { ...openaiCommon, prompt: field(fc.oneof(prompt, fc.array(prompt, { maxLength: 2 }), tokenIds, fc.array(tokenIds, { maxLength: 2 }))), echo: field(fc.boolean()), logprobs: field(fc.integer({ min: 0, max: 20 })), suffix: field(fc.constant("")) },
  { requiredKeys: ["prompt"] },
);
const message = fc.record(
  {
    role: field(fc.constantFrom("system", "user", "assistant", "developer", "tool")),
    content: field(fc.oneof(prompt, fc.array(fc.record({ type: field(fc.constantFrom("text", "image_url")), text: field(prompt) }), { maxLength: 3 }))),
    name: maybe(edgeString),
  },
  { requiredKeys: [] },
);
const chatBody = fc.record(
  { ...openaiCommon, messages: field(fc.array(message, { minLength: 1, maxLength: 5 })), max_completion_tokens: field(fc.integer({ min: 1, max: 64 })), logprobs: field(fc.boolean()), top_logprobs: field(fc.integer({ min: 0, max: 20 })) },
  { requiredKeys: ["messages"] },
);
const registerBody = fc.record(
  { id: field(edgeString), source: field(fc.constantFrom("local", "hub")), path: field(fc.oneof(edgeString, fc.constantFrom("qv-r8", "all-r16", "/etc", "escape"))), repo: field(edgeString), revision: field(edgeString), api_token: field(edgeString) },
  { requiredKeys: [] },
);
const tokenizeBody = fc.record({ inputs: field(prompt) }, { requiredKeys: [] });

/** JSON nested `depth` deep in some field of an otherwise plausible body */
const deepJson = fc.tuple(fc.integer({ min: 1000, max: 60_000 }), fc.constantFrom("[", "{\"a\":")).map(([depth, open]) => {
  const close = open === "[" ? "]" : "}";
  return open.repeat(depth) + (open === "[" ? "" : "1") + close.repeat(depth);
});

const POST_ROUTES: [string, fc.Arbitrary<unknown>][] = [
  ["/generate", loraxBody],
  ["/generate_stream", loraxBody],
  ["/", loraxBody],
  ["/tokenize", tokenizeBody],
  ["/v1/completions", completionBody],
  ["/v1/chat/completions", chatBody],
  ["/adapters", registerBody],
];
const DEEP_FIELDS: Record<string, string[]> = {
  "/generate": ["inputs", "parameters", "parameters.stop", "parameters.adapter_id"],
  "/generate_stream": ["inputs", "parameters.stop"],
  "/": ["inputs", "stream"],
  "/tokenize": ["inputs"],
  "/v1/completions": ["prompt", "stop", "logit_bias", "model"],
  "/v1/chat/completions": ["messages", "stop"],
  "/adapters": ["id", "path", "repo"],
};

const request: fc.Arbitrary<Req> = fc.oneof(
  { weight: 20, arbitrary: fc.oneof(...POST_ROUTES.map(([path, body]) => body.map((json): Req => ({ method: "POST", path, body: { json } })))) },
  // any JSON at all, or text that is not JSON
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...POST_ROUTES.map(([p]) => p)), fc.jsonValue({ maxDepth: 4 })).map(([path, json]): Req => ({ method: "POST", path, body: { json } })) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...POST_ROUTES.map(([p]) => p)), fc.oneof(fc.string({ maxLength: 100 }), fc.string({ unit: "binary", maxLength: 100 }), fc.constantFrom("", "{", "{\"inputs\":", "[]", "null", "1e999", "\"x\""))).map(([path, raw]): Req => ({ method: "POST", path, body: { raw } })) },
  // deep nesting in a field
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...Object.keys(DEEP_FIELDS)), fc.nat(), deepJson).map(([path, i, deep]): Req => {
    const fields = DEEP_FIELDS[path]!;
    const f = fields[i % fields.length]!;
    const base: Record<string, unknown> = path === "/v1/chat/completions" ? { messages: [{ role: "user", content: "hi" }] } : path === "/adapters" ? { id: "x", source: "local" } : path.startsWith("/v1/") ? { prompt: "hi" } : { inputs: "hi" };
    const parts = f.split(".");
    const marker = "\u0001DEEP\u0001";
    let o: Record<string, unknown> = base;
    for (const p of parts.slice(0, -1)) o = (o[p] = (o[p] as Record<string, unknown>) ?? {}) as Record<string, unknown>;
    o[parts.at(-1)!] = marker;
    return { method: "POST", path, body: { raw: JSON.stringify(base).replace(JSON.stringify(marker), deep) } };
  }) },
  { weight: 3, arbitrary: fc.constantFrom<Req>({ method: "GET", path: "/info" }, { method: "GET", path: "/health" }, { method: "GET", path: "/metrics" }, { method: "GET", path: "/adapters" }, { method: "GET", path: "/v1/models" }) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom("GET", "DELETE") as fc.Arbitrary<"GET" | "DELETE">, fc.oneof(edgeString, fc.constantFrom("qv-r8", "org/x", "%", "%E0%A4%A", "a/b/c"))).map(([method, id]): Req => ({
    // DELETE only ids the fuzzer itself may have registered (fuzz-*), so the stream's adapters stay
    method, path: `/adapters/${method === "DELETE" ? `fuzz-${enc(id)}` : /%/.test(id) ? id : enc(id)}`,
  })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("GET", "POST", "DELETE") as fc.Arbitrary<"GET" | "POST" | "DELETE">, edgeString).map(([method, p]): Req => ({ method, path: `/${enc(p)}` })) },
);

// ---- running ----------------------------------------------------------------------------------

/** percent-encodes any string, lone surrogates included (encodeURIComponent throws on those) */
const enc = (s: string) => [...Buffer.from(s, "utf8")].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");

const route = (r: Req) => `${r.method} ${r.path.startsWith("/adapters/") ? "/adapters/:id" : POST_ROUTES.some(([p]) => p === r.path) || ["/info", "/health", "/metrics", "/adapters", "/v1/models"].includes(r.path) ? r.path : "(other)"}`;
const preview = (r: Req) => {
  const b = r.body === undefined ? "" : "json" in r.body ? JSON.stringify(r.body.json) : r.body.raw;
  return `${r.method} ${r.path} ${b.length > 300 ? `${b.slice(0, 300)}… (${b.length} chars)` : b}`;
};

async function send(url: string, r: Req): Promise<{ status: number | "hang"; answer: string }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), HANG_MS);
  try {
    const body = r.body === undefined ? undefined : "json" in r.body ? JSON.stringify(r.body.json) : r.body.raw;
    const res = await fetch(`${url}${r.path}`, { method: r.method, headers: body === undefined ? {} : { "content-type": "application/json" }, body, signal: ac.signal });
    const text = await res.text(); // streams are read to their end
    return { status: res.status, answer: text.slice(0, 300) };
  } catch (e) {
    if (ac.signal.aborted) return { status: "hang", answer: "" };
    return { status: 599, answer: `connection failed: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Fuzz the worker at `url` for `seconds`; resolves with the counts. */
/**
 * Fuzz the worker at `url` for `seconds`; resolves with the counts. `workerPid`: the worker's
 * process, whose CPU time each stall's context reports (machine-watch.ts).
 */
export async function fuzzWorker(opts: { url: string; seconds: number; seed?: number; runners?: number; workerPid?: number; log?: (line: string) => void }): Promise<FuzzReport> {
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const report: FuzzReport = { seconds: opts.seconds, seed, routes: {}, failures: [], shrunk: [], stream: { events: 0, restarts: 0, maxGapMs: 0, stallsOver500ms: 0, stalls: [] } };
  const machine = new MachineWatch({ worker: opts.workerPid }, { worker: `${opts.url}/health` });
  const deadline = Date.now() + opts.seconds * 1000;

  // the stream beside them: a long base-model generation, restarted whenever it ends
  let stream: StreamWatch | null = null;
  let running = true;
  const streamLoop = (async () => {
    while (running) {
      const st = watchStream(opts.url, { inputs: "Once upon a time", parameters: { max_new_tokens: 60, ignore_eos_token: true } }, 500, (gap) => report.stream.stalls.push(machine.stall(gap)));
      stream = st;
      await st.done.catch(() => {}); // a 429 while the fuzzers fill the queue: try again
      report.stream.events += st.events();
      report.stream.stallsOver500ms += st.stalls();
      if (st.events() > 0) report.stream.maxGapMs = Math.max(report.stream.maxGapMs, st.maxGapMs());
      report.stream.restarts++;
      if (st.events() === 0) await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const one = async (r: Req): Promise<boolean> => {
    if (Date.now() > deadline) return true;
    const key = route(r);
    const s = (report.routes[key] ??= { tried: 0, ok: 0, client: 0, server: 0, hangs: 0 });
    s.tried++;
    const { status, answer } = await send(opts.url, r);
    if (status === "hang") s.hangs++;
    else if (status >= 500) s.server++;
    else if (status >= 400) s.client++;
    else s.ok++;
    if (status === "hang" || status >= 500) {
      if (report.failures.length < 20) report.failures.push({ route: key, status, body: preview(r), answer });
      opts.log?.(`${status} ${preview(r).slice(0, 200)} -> ${answer.slice(0, 200)}`);
      return false;
    }
    return true;
  };
  // fast-check's time limit does not wait for a property call that is running: those are awaited
  // at the end, so every request sent is counted (none fails on a server already stopped)
  const inFlight = new Set<Promise<boolean>>();
  const property = fc.asyncProperty(request, (r) => {
    const p = one(r);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  });
  const runners = opts.runners ?? 3;
  await Promise.all(Array.from({ length: runners }, async (_, i) => {
    // each runner goes on after a failure (and its shrinking) until the time is up
    for (let round = 0; Date.now() < deadline; round++) {
      const out = await fc.check(property, { seed: seed + i * 1000 + round, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: Math.max(1, deadline - Date.now()), markInterruptAsFailure: false, endOnFailure: false, maxSkipsPerRun: 0 });
      if (out.failed && out.counterexample) report.shrunk.push(preview(out.counterexample[0]));
    }
  }));
  await Promise.allSettled([...inFlight]);

  running = false;
  (stream as StreamWatch | null)?.stop();
  await streamLoop;
  machine.stop();
  return report;
}

export function formatReport(r: FuzzReport): string {
  const lines = [
    `Worker fuzz: ${r.seconds} s, seed ${r.seed}; a long stream ran beside it (${r.stream.events} events over ${r.stream.restarts} streams)`,
    "",
    "| route | bodies tried | 2xx/3xx | 4xx | 5xx | hangs |",
    "|---|---|---|---|---|---|",
  ];
  const total: RouteStats = { tried: 0, ok: 0, client: 0, server: 0, hangs: 0 };
  for (const [route, s] of Object.entries(r.routes).sort()) {
    lines.push(`| ${route} | ${s.tried} | ${s.ok} | ${s.client} | ${s.server} | ${s.hangs} |`);
    for (const k of Object.keys(total) as (keyof RouteStats)[]) total[k] += s[k];
  }
  lines.push(`| **all** | **${total.tried}** | ${total.ok} | ${total.client} | **${total.server}** | **${total.hangs}** |`);
  lines.push("", `Concurrent stream: longest gap between two events ${Math.round(r.stream.maxGapMs)} ms; stalls over 500 ms: ${r.stream.stallsOver500ms}`);
  lines.push(...formatStalls(r.stream.stalls));
  for (const f of r.failures) lines.push(`- ${f.status} ${f.body.slice(0, 240)} -> ${f.answer.slice(0, 200)}`);
  for (const s of r.shrunk) lines.push(`- shrunk: ${s.slice(0, 300)}`);
  return lines.join("\n");
}
