/**
 * Property-based fuzzing of every tRPC procedure of the web app (fast-check), through real HTTP
 * against the production server: inputs shaped like the procedure's (with edge values, wrong types,
 * huge strings, deep JSON, unicode and boundary numbers in any field, superjson-encoded NaN,
 * BigInt, Map, invalid Date…), and hostile transport (wrong method, batches, bodies that are not
 * JSON, hostile superjson `meta`, bodies over the 1 MB limit), as several callers: a page-minted
 * owner (most calls), no cookie, a forged cookie, a visitor behind a proxy (not admin), a
 * cross-site page. Ids the server answered (chats, runs, shares, eval runs) are fed back, so calls
 * also reach real rows. Counted per procedure: bodies tried, 2xx, 4xx, 5xx (goal 0), hangs (no
 * answer in 10 s, goal 0); a 5xx hidden in a batch or in a subscription's error event counts too.
 * A 5xx or a hang fails the property, so fast-check shrinks it to a small request.
 *
 * `fuzzTrpc` is run by bench/fuzz/run.ts (`npm run fuzz`) beside a generation watched through
 * the web (web-stream-watch.ts), and briefly by tests/e2e/fuzz-trpc-smoke.test.ts.
 */
import fc from "fast-check";
import superjson from "superjson";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { formatStalls, type StallContext } from "./machine-watch";
import type { RouteStats } from "./worker-fuzz";

/** a route's counts, plus connections reset or refused before an answer (goal 0 too) */
export interface ProcedureStats extends RouteStats {
  dropped: number;
}

export interface TrpcFuzzReport {
  seconds: number;
  seed: number;
  procedures: Record<string, ProcedureStats>;
  /** every 5xx, hang or dropped connection (the first 20): procedure, status, the request, the answer */
  failures: { procedure: string; status: number | "hang"; request: string; answer: string }[];
  shrunk: string[];
  /** the slowest answer of each SLOW_MS procedure, ms */
  slowest: Record<string, number>;
}

type Kind = "query" | "mutation" | "subscription";
type Caller = "owner" | "none" | "forged" | "unsigned" | "visitor" | "cross-site";
type Encoding = "superjson" | "bare" | "meta" | "raw" | "deep" | "huge";

interface Call {
  path: string;
  input: unknown;
}
interface Req {
  calls: Call[];
  batch: boolean;
  /** GET or POST as the procedure wants, or the other one */
  wrongMethod: boolean;
  caller: Caller;
  owner: number;
  encoding: Encoding;
  /** raw text (encoding raw), hostile meta (meta) */
  extra: unknown;
  /** nesting depth (encoding deep) */
  depth: number;
}

const HANG_MS = 10_000;
/**
 * Procedures whose honest answer can take longer than HANG_MS, with their own budget: train.preview
 * tokenizes a whole dataset (up to 50 MB) for its row accounting, in one helper process that takes
 * previews one at a time, so generated templates queue several multi-second scans. Their slowest
 * answer is reported beside the table.
 */
const SLOW_MS = new Map<string, number>([["train.preview", 120_000]]);
const hangMsOf = (r: Req) => Math.max(HANG_MS, ...r.calls.map((c) => SLOW_MS.get(c.path) ?? 0));
/** the status recorded for a connection reset or refused */
const DROPPED = 599;
/** how long a subscription's stream is read before the fuzzer moves on (it answered: no hang) */
const SUBSCRIPTION_READ_MS = 1500;

// ---- ids the server answered, fed back into inputs ------------------------------------------

type PoolKind = "uuid" | "slug" | "int";
const pools: Record<PoolKind, string[] | number[]> = { uuid: [], slug: [], int: [] };
const POOL_MARK = "\u0000pool:";
/** an id the server gave out earlier (resolved when sent), or a fresh one when none yet */
const fromPool = (kind: PoolKind) => fc.nat().map((n) => `${POOL_MARK}${kind}:${n}`);

function harvest(v: unknown, depth = 0): void {
  if (depth > 6 || v === null || typeof v !== "object") return;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(x)) add("uuid", x);
    else if (typeof x === "string" && k === "slug" && /^[0-9A-Za-z]{10,32}$/.test(x)) add("slug", x);
    else if (typeof x === "number" && Number.isInteger(x) && x > 0 && /^(id|runId|resultId)$/.test(k)) add("int", x);
    else harvest(x, depth + 1);
  }
}
function add(kind: PoolKind, x: string | number) {
  const p = pools[kind] as (string | number)[];
  if (p.includes(x)) return;
  if (p.length >= 200) p.splice(Math.floor(Math.random() * p.length), 1);
  p.push(x);
}
function resolvePool(v: unknown, depth = 0): unknown {
  if (typeof v === "string" && v.startsWith(POOL_MARK)) {
    const [kind, n] = v.slice(POOL_MARK.length).split(":") as [PoolKind, string];
    const p = pools[kind];
    if (p.length) return p[Number(n) % p.length];
    return kind === "int" ? 1 + (Number(n) % 50) : kind === "uuid" ? crypto.randomUUID() : "AbCdEfGhIjKl";
  }
  if (depth > 8 || v === null || typeof v !== "object" || v instanceof Date || v instanceof RegExp) return v;
  if (Array.isArray(v)) return v.map((x) => resolvePool(x, depth + 1));
  if (v instanceof Map || v instanceof Set) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolvePool(x, depth + 1)]));
}

// ---- arbitraries ------------------------------------------------------------------------------

const edgeNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 0.5, 1.5, 2, 5, 6, 7, 64, 100, 200, 201, 1000, 2048, 2049, 100_000, 100_001, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e-300),
  fc.integer({ min: -5, max: 300 }),
  fc.double(),
);
const edgeString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("", " ", "\u0000", "\uFFFD", "\uD800", "\uDC00x", "\u202E", "%", "../../etc/passwd", "null", "undefined", "__proto__", "constructor", "sql", "ner", "arithmetic", "a".repeat(201), "é".repeat(300), "🦙".repeat(100), "<script>alert(1)</script>"),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
);
/** superjson carries these where plain JSON cannot */
const special = fc.constantFrom<unknown>(NaN, Infinity, -Infinity, -0, undefined, new Date(NaN), new Date(8.64e15), 10n ** 30n, -1n, new Map([["a", 1]]), new Set([1, 2]), /x+/g, new Error("e"));
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: edgeNumber },
  { weight: 4, arbitrary: edgeString },
  { weight: 2, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: special },
  { weight: 2, arbitrary: fc.array(fc.oneof(edgeString, edgeNumber), { maxLength: 20 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(edgeString, fc.oneof(edgeString, edgeNumber), { maxKeys: 8 }) },
);
/** mostly the expected kind of value, sometimes anything */
const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 10, arbitrary: good }, { weight: 1, arbitrary: anyValue });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
const obj = <T extends Record<string, fc.Arbitrary<unknown>>>(r: T, required: (keyof T)[] = []) => fc.record(r, { requiredKeys: required as never });

const text = (max: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 120 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 120 }) },
    // around the limit, and far over it
    { weight: 1, arbitrary: fc.constantFrom(max - 1, max, max + 1, 4 * max).map((n) => "x".repeat(n)) },
  );
const uuid = fc.oneof({ weight: 4, arbitrary: fromPool("uuid") }, { weight: 2, arbitrary: fc.uuid() }, { weight: 1, arbitrary: edgeString });
const shareSlug = fc.oneof({ weight: 3, arbitrary: fromPool("slug") }, { weight: 1, arbitrary: fc.stringMatching(/^[0-9A-Za-z]{10,32}$/) }, { weight: 1, arbitrary: edgeString });
const positiveInt = fc.oneof({ weight: 3, arbitrary: fromPool("int") }, { weight: 2, arbitrary: edgeNumber });
const adapterSlug = fc.constantFrom("sql", "ner", "spam", "sentiment", "wordnet", "cmudict", "e2e", "arithmetic", "fortune_topic", "nope", "");
/** a merge of adapters as one pane's model (`{merged_adapters}`) */
const merged = fc.record({
  merged_adapters: obj(
    {
      ids: field(fc.array(fc.constantFrom("sql", "ner", "spam", "sentiment", "nope", "sql"), { minLength: 1, maxLength: 5 })),
      weights: field(fc.array(fc.oneof(fc.double({ min: -101, max: 101, noNaN: true }), edgeNumber), { minLength: 1, maxLength: 5 })),
      merge_strategy: field(fc.constantFrom("linear", "ties", "dare_linear", "dare_ties", "svd")),
      density: opt(field(fc.double({ min: 0, max: 1.1, noNaN: true }))),
      majority_sign_method: opt(field(fc.constantFrom("total", "frequency", "x"))),
    },
    ["ids", "weights", "merge_strategy"],
  ),
});
const adapterId = fc.oneof(fc.constant(null), adapterSlug, fc.constantFrom("a/b", "../x", "x".repeat(257)), merged);

/** JSON schemas for `response_format`: the subset the worker compiles, nested, and what it refuses */
const jsonSchema: fc.Arbitrary<unknown> = fc.letrec<{ s: unknown }>((tie) => ({
  s: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom({ type: "string" }, { type: "number" }, { type: "integer" }, { type: "boolean" }, { type: "null" }, { type: "nope" }, {}, { $ref: "#/x" }, { pattern: "(a+)+$" }),
    fc.record({ enum: fc.array(fc.oneof(edgeString, edgeNumber, fc.constant(null)), { maxLength: 6 }) }),
    fc.record({ const: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record({ type: fc.constant("array"), items: tie("s"), minItems: opt(fc.integer({ min: -1, max: 5 })), maxItems: opt(fc.integer({ min: -1, max: 1000 })) }),
    fc.record({ type: fc.constant("object"), properties: fc.dictionary(edgeString, tie("s"), { maxKeys: 4 }), required: opt(fc.array(edgeString, { maxLength: 4 })), additionalProperties: opt(fc.boolean()) }),
    fc.record({ anyOf: fc.array(tie("s"), { maxLength: 3 }) }),
    fc.record({ oneOf: fc.array(tie("s"), { maxLength: 3 }) }),
  ),
})).s;
const responseFormat = obj({ type: field(fc.constantFrom("json_object", "json_schema", "text")), schema: opt(field(jsonSchema)) }, ["type"]);

const params = obj(
  {
    temperature: field(fc.double({ min: 0, max: 2, noNaN: true })),
    top_p: field(fc.double({ min: 0.01, max: 1, noNaN: true })),
    top_k: field(fc.integer({ min: 0, max: 1000 })),
    max_new_tokens: field(fc.integer({ min: 1, max: 24 })),
    repetition_penalty: field(fc.double({ min: 0.1, max: 10, noNaN: true })),
    stop: field(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 5 })),
    ignore_eos: field(fc.boolean()),
    seed: field(fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    response_format: opt(field(responseFormat)),
  },
  ["max_new_tokens"],
);
const startInput = obj(
  {
    chatId: opt(field(uuid)),
    mode: field(fc.constantFrom("template", "raw", "chat")),
    adapters: field(fc.array(adapterId, { minLength: 1, maxLength: 7 })),
    prompt: field(text(32_000)),
    prompts: opt(field(fc.array(text(32_000), { maxLength: 7 }))),
    inputs: opt(field(fc.dictionary(edgeString, fc.oneof(edgeString, text(32_000)), { maxKeys: 40 }))),
    params: field(params),
    alternatives: opt(field(fc.integer({ min: 0, max: 6 }))),
    runId: opt(field(fc.oneof(fc.uuid(), fromPool("uuid")))),
    system: opt(field(text(32_000))),
  },
  ["mode", "adapters", "prompt", "params"],
);
/** a start the server accepts (so runs, chats and shares exist for the other procedures to find) */
const validStart = fc.record(
  {
    mode: fc.constantFrom("raw", "template", "chat"),
    adapters: fc.array(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(null, "sql", "ner", "spam", "sentiment") }, { weight: 1, arbitrary: fc.constant({ merged_adapters: { ids: ["sql", "ner"], weights: [0.5, 0.5], merge_strategy: "linear" } }) }), { minLength: 1, maxLength: 3 }),
    prompt: fc.string({ unit: "grapheme", minLength: 1, maxLength: 200 }).filter((x) => x.trim().length > 0),
    params: fc.record(
      {
        max_new_tokens: fc.integer({ min: 1, max: 24 }),
        temperature: fc.double({ min: 0, max: 2, noNaN: true }),
        top_k: fc.integer({ min: 0, max: 1000 }),
        seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        stop: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 4 }),
        response_format: fc.constantFrom({ type: "json_object" }, { type: "json_object", schema: { type: "object", properties: { a: { type: "string" }, n: { type: "integer" } }, required: ["a"] } }),
      },
      { requiredKeys: ["max_new_tokens"] },
    ),
    alternatives: fc.integer({ min: 0, max: 5 }),
    system: fc.string({ minLength: 1, maxLength: 80 }),
    runId: fc.uuid({ version: 4 }),
  },
  { requiredKeys: ["mode", "adapters", "prompt", "params"] },
);
const example = obj({
  index: field(fc.nat()),
  inputs: field(fc.dictionary(edgeString, edgeString, { maxKeys: 3 })),
  reference: field(edgeString),
  prediction: field(edgeString),
  basePrediction: field(fc.option(edgeString)),
  score: field(fc.double({ min: 0, max: 1, noNaN: true })),
  baseScore: field(fc.option(fc.double({ min: 0, max: 1, noNaN: true }))),
  latencyMs: field(fc.nat()),
  baseLatencyMs: field(fc.option(fc.nat())),
});
const ingestInput = obj({
  modelId: field(fc.constantFrom("demo", "loraland/demo-mistral-tiny", "x")),
  workerUrl: field(fc.constantFrom("http://127.0.0.1:1", "", "javascript:alert(1)")),
  protocol: field(fc.constantFrom("lorax", "openai")),
  adapters: field(fc.array(adapterSlug, { maxLength: 3 })),
  exampleLimit: field(fc.option(fc.integer({ min: 1, max: 1000 }))),
  concurrency: field(fc.integer({ min: 1, max: 64 })),
  total: field(fc.nat()),
  startedAt: field(fc.oneof(fc.date({ noInvalidDate: true }), fc.constantFrom("2026-01-01", "yesterday"))),
  finishedAt: field(fc.oneof(fc.date({ noInvalidDate: true }), fc.constantFrom("2026-01-02", ""))),
  wallMs: field(fc.nat()),
  requestsPerSecond: field(fc.double({ min: 0, max: 1000, noNaN: true })),
  throughput: field(fc.constant(null)),
  results: field(
    fc.array(
      obj({
        slug: field(adapterSlug),
        task: opt(field(adapterSlug)),
        adapterId: field(adapterSlug),
        metric: field(fc.constantFrom("exact_match", "accuracy", "rouge_l", "f1", "nope")),
        n: field(fc.nat(300)),
        fineTuned: field(fc.double({ min: 0, max: 1, noNaN: true })),
        base: field(fc.option(fc.double({ min: 0, max: 1, noNaN: true }))),
        examples: field(fc.array(example, { maxLength: 3 })),
      }),
      { maxLength: 3 },
    ),
  ),
});

/** a training dataset: a demo task's train split, or an upload's id */
const datasetRef = fc.oneof(
  obj({ kind: field(fc.constant("demo")), task: field(adapterSlug) }, ["kind", "task"]),
  obj({ kind: field(fc.constant("upload")), id: field(fc.oneof(fc.stringMatching(/^[a-z0-9]{8,64}$/), edgeString)) }, ["kind", "id"]),
);
/** LoRA Land's training config keys, with edge values */
const trainConfig = obj({
  prompt_template: opt(field(text(20_000))),
  output_column: opt(field(edgeString)),
  adapter: opt(field(obj({ r: field(fc.integer({ min: -1, max: 1025 })), alpha: field(edgeNumber), dropout: field(fc.double({ min: -0.5, max: 1.5, noNaN: true })), target_modules: field(fc.array(fc.constantFrom("q_proj", "v_proj", "nope"), { maxLength: 4 })) }))),
  trainer: opt(field(obj({ epochs: field(edgeNumber), learning_rate: field(edgeNumber), batch_size: field(edgeNumber), max_length: field(edgeNumber), validation_split: field(fc.double({ min: -0.5, max: 1.5, noNaN: true })) }))),
  base_model: opt(field(edgeString)),
  output_dir: opt(field(fc.constantFrom("/tmp/x", "../../etc"))),
});

/** every procedure of server/root.ts, with inputs shaped like its schema */
const PROCEDURES: { path: string; kind: Kind; input: fc.Arbitrary<unknown> }[] = [
  { path: "access.me", kind: "query", input: opt(anyValue) },
  { path: "catalog.list", kind: "query", input: opt(anyValue) },
  { path: "catalog.runStates", kind: "query", input: opt(anyValue) },
  { path: "catalog.bySlug", kind: "query", input: obj({ slug: field(adapterSlug) }) },
  { path: "status.health", kind: "query", input: opt(anyValue) },
  { path: "status.worker", kind: "query", input: opt(obj({ fresh: field(fc.boolean()) })) },
  { path: "generate.tokenCount", kind: "query", input: obj({ text: field(text(32_000)) }) },
  { path: "generate.start", kind: "mutation", input: fc.oneof(validStart, startInput) },
  { path: "generate.stream", kind: "subscription", input: obj({ runId: field(uuid), lastEventId: opt(field(fc.oneof(fc.nat().map(String), edgeString))), awaitStart: opt(field(fc.boolean())) }) },
  { path: "generate.stop", kind: "mutation", input: obj({ runId: field(uuid), pane: opt(field(fc.integer({ min: -1, max: 6 }))) }) },
  { path: "chats.list", kind: "query", input: opt(obj({ search: opt(field(text(200))) })) },
  { path: "chats.get", kind: "query", input: obj({ id: field(uuid) }) },
  { path: "chats.rename", kind: "mutation", input: obj({ id: field(uuid), title: field(text(200)) }) },
  { path: "chats.delete", kind: "mutation", input: obj({ id: field(uuid) }) },
  { path: "chats.clear", kind: "mutation", input: obj({ confirm: field(fc.boolean()) }) },
  { path: "shares.create", kind: "mutation", input: obj({ chatId: field(uuid) }) },
  { path: "shares.get", kind: "query", input: obj({ slug: field(shareSlug) }) },
  { path: "shares.revoke", kind: "mutation", input: obj({ slug: field(shareSlug) }) },
  { path: "shares.list", kind: "query", input: opt(obj({ chatId: opt(field(uuid)) })) },
  { path: "eval.tasks", kind: "query", input: opt(anyValue) },
  { path: "eval.runs", kind: "query", input: opt(obj({ limit: opt(field(fc.integer({ min: 0, max: 201 }))) })) },
  { path: "eval.run", kind: "query", input: obj({ id: field(positiveInt) }) },
  { path: "eval.results", kind: "query", input: obj({ slug: field(adapterSlug) }) },
  {
    path: "eval.examples",
    kind: "query",
    input: obj({ resultId: field(positiveInt), filter: opt(field(fc.constantFrom("all", "right", "wrong"))), offset: opt(field(fc.nat(1000))), limit: opt(field(fc.integer({ min: 0, max: 101 }))) }),
  },
  {
    path: "eval.start",
    kind: "mutation",
    input: obj({ slug: field(adapterSlug), task: opt(field(adapterSlug)), limit: opt(field(fc.option(fc.integer({ min: 0, max: 8 })))), concurrency: opt(field(fc.integer({ min: 0, max: 65 }))) }),
  },
  { path: "eval.progress", kind: "subscription", input: obj({ runId: field(positiveInt) }) },
  { path: "eval.compare", kind: "query", input: obj({ a: field(positiveInt), b: field(positiveInt), changedOnly: opt(field(fc.boolean())), limit: opt(field(fc.integer({ min: 0, max: 501 }))) }) },
  { path: "eval.cancel", kind: "mutation", input: obj({ runId: field(positiveInt) }) },
  { path: "arena.tasks", kind: "query", input: opt(anyValue) },
  { path: "arena.start", kind: "mutation", input: obj({ task: field(adapterSlug), inputs: opt(field(fc.dictionary(edgeString, fc.oneof(edgeString, text(32_000)), { maxKeys: 6 }))) }, ["task"]) },
  { path: "arena.stream", kind: "subscription", input: obj({ battleId: field(uuid), lastEventId: opt(field(fc.oneof(fc.nat().map(String), edgeString))) }) },
  { path: "arena.vote", kind: "mutation", input: obj({ battleId: field(uuid), vote: field(fc.constantFrom("a", "b", "tie", "both_bad", "nope")) }) },
  { path: "arena.leaderboard", kind: "query", input: obj({ task: field(adapterSlug) }) },
  { path: "presets.list", kind: "query", input: opt(anyValue) },
  { path: "presets.get", kind: "query", input: obj({ id: field(uuid) }) },
  {
    path: "presets.create",
    kind: "mutation",
    input: obj({ name: field(text(100)), adapter: field(fc.option(adapterSlug)), mode: field(fc.constantFrom("template", "raw", "chat")), inputs: opt(field(fc.dictionary(edgeString, edgeString, { maxKeys: 4 }))), prompt: opt(field(text(32_000))), params: field(params) }),
  },
  { path: "presets.update", kind: "mutation", input: obj({ id: field(uuid), name: opt(field(text(100))), setup: opt(field(obj({ adapter: field(fc.option(adapterSlug)), mode: field(fc.constantFrom("raw", "chat")), params: field(params) }))) }) },
  { path: "presets.delete", kind: "mutation", input: obj({ id: field(uuid) }) },
  { path: "feedback.toggle", kind: "mutation", input: obj({ generationId: field(uuid), rating: field(fc.constantFrom("up", "down", "meh")) }) },
  { path: "feedback.get", kind: "query", input: fc.oneof(obj({ chatId: field(uuid) }), obj({ generationIds: field(fc.array(uuid, { maxLength: 201 })) })) },
  { path: "eval.ingest", kind: "mutation", input: ingestInput },
  { path: "eval.setHeadline", kind: "mutation", input: obj({ resultId: field(positiveInt) }) },
  { path: "train.options", kind: "query", input: opt(anyValue) },
  { path: "train.datasets", kind: "query", input: opt(anyValue) },
  {
    path: "train.preview",
    kind: "query",
    input: obj({ dataset: field(datasetRef), promptTemplate: opt(field(text(20_000))), outputColumn: opt(field(text(200))), maxLength: opt(field(fc.integer({ min: 0, max: 40_000 }))), limit: opt(field(fc.integer({ min: 0, max: 51 }))) }, ["dataset"]),
  },
  { path: "train.start", kind: "mutation", input: obj({ dataset: field(datasetRef), name: opt(field(fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/), edgeString))), config: opt(field(trainConfig)) }, ["dataset"]) },
  { path: "train.runs", kind: "query", input: opt(obj({ limit: opt(field(fc.integer({ min: 0, max: 201 }))), mine: opt(field(fc.boolean())) })) },
  { path: "train.run", kind: "query", input: obj({ id: field(positiveInt) }) },
  { path: "train.cancel", kind: "mutation", input: obj({ runId: field(positiveInt) }) },
  { path: "train.deleteDataset", kind: "mutation", input: obj({ id: field(fc.oneof(fc.stringMatching(/^[a-z0-9]{8,64}$/), edgeString)) }) },
  { path: "train.progress", kind: "subscription", input: obj({ runId: field(positiveInt), afterStep: opt(field(fc.integer({ min: -1, max: 100_000 }))) }) },
];
const KIND = new Map(PROCEDURES.map((p) => [p.path, p.kind]));
export const PROCEDURE_PATHS = PROCEDURES.map((p) => p.path);

const call: fc.Arbitrary<Call> = fc.oneof(
  { weight: 30, arbitrary: fc.oneof(...PROCEDURES.map((p) => p.input.map((input): Call => ({ path: p.path, input })))) },
  // any value as any procedure's input
  { weight: 3, arbitrary: fc.record({ path: fc.constantFrom(...PROCEDURE_PATHS), input: anyValue }) },
  // no such procedure
  { weight: 1, arbitrary: fc.record({ path: fc.oneof(fc.constantFrom("", "nope", "generate", "generate.start.x", "__proto__.toString", "constructor", "chats..get", "%00"), edgeString), input: anyValue }) },
);

const request: fc.Arbitrary<Req> = fc.record({
  calls: fc.oneof({ weight: 12, arbitrary: call.map((c) => [c]) }, { weight: 1, arbitrary: fc.array(call, { minLength: 1, maxLength: 4 }) }),
  batch: fc.boolean(),
  wrongMethod: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  caller: fc.oneof(
    { weight: 14, arbitrary: fc.constant<Caller>("owner") },
    { weight: 2, arbitrary: fc.constant<Caller>("visitor") },
    ...(["none", "forged", "unsigned", "cross-site"] as const).map((c) => ({ weight: 1, arbitrary: fc.constant<Caller>(c) })),
  ),
  owner: fc.nat(),
  encoding: fc.oneof(
    { weight: 24, arbitrary: fc.constant<Encoding>("superjson") },
    ...(["bare", "meta", "raw", "deep"] as const).map((e) => ({ weight: 1, arbitrary: fc.constant<Encoding>(e) })),
    { weight: 1, arbitrary: fc.constant<Encoding>("huge") },
  ),
  depth: fc.integer({ min: 1000, max: 60_000 }),
  extra: fc.oneof(
    fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("", "{", "[]", "null", "1e999", "{\"json\":", "{\"0\":{\"json\":1}}")),
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom<unknown>({ values: ["custom", "nope"] }, { values: { x: ["class", "Foo"] } }, { values: { "__proto__.polluted": ["Date"] } }, { referentialEqualities: { x: ["y"] } }, { values: { "": [["custom"]] } }),
  ),
}).map((r) => ({ ...r, batch: r.calls.length > 1 || (r.batch && r.owner % 8 === 0) }));

// ---- sending ------------------------------------------------------------------------------------

export interface Callers {
  /** signed owner cookies (`owner=…`) minted by page loads */
  owners: string[];
}

function headersFor(r: Req, callers: Callers): Record<string, string> {
  const owner = callers.owners[r.owner % callers.owners.length]!;
  switch (r.caller) {
    case "owner":
      return { cookie: owner };
    case "visitor":
      return { cookie: owner, "x-forwarded-for": `203.0.113.${r.owner % 250}` };
    case "none":
      return {};
    case "forged":
      return { cookie: `${owner.slice(0, -4)}AAAA` };
    case "unsigned":
      return { cookie: `owner=${crypto.randomUUID()}` };
    case "cross-site":
      return { cookie: owner, origin: "https://evil.example", "sec-fetch-site": "cross-site" };
  }
}

/** percent-encodes any string, lone surrogates included (encodeURIComponent throws on those) */
const enc = (s: string) => [...Buffer.from(s, "utf8")].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");

/** JSON.stringify that writes a BigInt as its digits instead of throwing */
const toJson = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));

/** the encoded input of one call (before URL encoding), as tRPC's client would send it, or hostile */
function encodeInput(r: Req, input: unknown): string | undefined {
  const value = resolvePool(input);
  switch (r.encoding) {
    case "superjson":
    case "huge": {
      if (value === undefined) return undefined;
      try {
        return JSON.stringify(superjson.serialize(value));
      } catch {
        return toJson({ json: value }); // superjson refuses `__proto__` keys: sent as they are
      }
    }
    case "bare":
      return toJson(value === undefined ? null : value);
    case "meta":
      return toJson({ json: value ?? null, meta: r.extra });
    case "raw":
      return typeof r.extra === "string" ? r.extra : JSON.stringify(r.extra);
    case "deep": {
      const s = toJson(value !== null && typeof value === "object" && !Array.isArray(value) ? { ...value, deep: "\u0001" } : { deep: "\u0001" });
      return `{"json":${s.replace('"\\u0001"', `${"[".repeat(r.depth)}${"]".repeat(r.depth)}`)}}`;
    }
  }
}

function build(r: Req, url: string): { method: "GET" | "POST"; href: string; body?: string; subscription: boolean } {
  const kinds = r.calls.map((c) => KIND.get(c.path));
  const post = kinds[0] === "mutation" !== r.wrongMethod;
  const subscription = !r.batch && kinds[0] === "subscription";
  const inputs = r.calls.map((c) => encodeInput(r, c.input));
  const path = r.calls.map((c) => enc(c.path)).join(",");
  let payload: string | undefined;
  if (r.batch) payload = `{${inputs.map((s, i) => (s === undefined ? null : `"${i}":${s}`)).filter(Boolean).join(",")}}`;
  else payload = inputs[0];
  if (r.encoding === "huge") payload = JSON.stringify({ json: { pad: "x".repeat(1024 * 1024 + 100) } });
  const qs = r.batch ? "batch=1" : "";
  if (post) return { method: "POST", href: `${url}/api/trpc/${path}${qs ? `?${qs}` : ""}`, body: payload ?? "", subscription };
  const q = [qs, payload === undefined ? "" : `input=${enc(payload)}`].filter(Boolean).join("&");
  return { method: "GET", href: `${url}/api/trpc/${path}${q ? `?${q}` : ""}`, subscription };
}

const preview = (r: Req, b: ReturnType<typeof build>) => {
  const s = `[${r.caller}, ${r.encoding}] ${b.method} ${b.href.replace(/^https?:\/\/[^/]+/, "")}${b.body !== undefined ? ` ${b.body}` : ""}`;
  return s.length > 400 ? `${s.slice(0, 400)}… (${s.length} chars)` : s;
};

/** 5xx statuses inside a tRPC answer (a batch's items, an error shape) */
function innerServerErrors(body: unknown): number[] {
  const items = Array.isArray(body) ? body : [body];
  const out: number[] = [];
  for (const it of items) {
    const err = (it as { error?: { json?: { data?: { httpStatus?: number } }; data?: { httpStatus?: number } } } | null)?.error;
    const status = err?.json?.data?.httpStatus ?? err?.data?.httpStatus;
    if (typeof status === "number" && status >= 500) out.push(status);
    else harvest((it as { result?: { data?: unknown } } | null)?.result?.data);
  }
  return out;
}

/**
 * One request; a connection reset before any answer is tried once more on a new connection (an
 * idle keep-alive socket the server closed just as the request went out is the client's race, not
 * the server's fault): only a second failure counts as dropped.
 */
async function send(r: Req, url: string, callers: Callers): Promise<{ status: number | "hang"; answer: string; request: string }> {
  const first = await sendOnce(r, url, callers);
  return first.status === DROPPED ? sendOnce(r, url, callers) : first;
}

async function sendOnce(r: Req, url: string, callers: Callers): Promise<{ status: number | "hang"; answer: string; request: string }> {
  const b = build(r, url);
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), hangMsOf(r));
  const headers: Record<string, string> = headersFor(r, callers);
  if (b.body !== undefined) headers["content-type"] = "application/json";
  if (b.subscription) headers.accept = "text/event-stream";
  const request = preview(r, b);
  try {
    const res = await fetch(b.href, { method: b.method, headers, body: b.body, signal: ac.signal });
    if (res.headers.get("content-type")?.startsWith("text/event-stream") && res.body) {
      // a subscription answered: read its first events for a moment, then leave
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(), SUBSCRIPTION_READ_MS);
      let status = res.status;
      let answer = "";
      const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
      // the abort ends the read for sure (a piped body does not always error on it, and the
      // server's pings would keep the loop reading), and the connection is closed either way
      const leave = () => void reader.cancel().catch(() => {});
      ac.signal.addEventListener("abort", leave, { once: true });
      try {
        while (!ac.signal.aborted) {
          const { done, value } = await reader.read();
          if (done || value.event === "return") break;
          if (value.event === "serialized-error") {
            const inner = innerServerErrors({ error: JSON.parse(value.data) });
            if (inner.length) status = inner[0]!;
            answer = value.data.slice(0, 300);
            break;
          }
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      } finally {
        ac.signal.removeEventListener("abort", leave);
        leave();
      }
      return { status, answer, request };
    }
    const text = await res.text();
    let status = res.status;
    if (status < 500) {
      try {
        const inner = innerServerErrors(JSON.parse(text));
        if (inner.length) status = inner[0]!;
      } catch {
        // not JSON (a 405/413 from Next, say): the HTTP status says it
      }
    }
    return { status, answer: text.slice(0, 300), request };
  } catch (e) {
    if (ac.signal.aborted) return { status: "hang", answer: "", request };
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    return { status: DROPPED, answer: `connection failed: ${(e as Error).message} (${cause?.code ?? cause?.message ?? "no cause"})`, request };
  } finally {
    clearTimeout(timer);
  }
}

const procedureOf = (r: Req) => (r.batch ? "(batch)" : KIND.has(r.calls[0]!.path) ? r.calls[0]!.path : "(no such procedure)");

/** Fuzz the web app's tRPC API at `url` for `seconds`. */
export async function fuzzTrpc(opts: { url: string; seconds: number; callers: Callers; seed?: number; runners?: number; log?: (line: string) => void }): Promise<TrpcFuzzReport> {
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const report: TrpcFuzzReport = { seconds: opts.seconds, seed, procedures: {}, failures: [], shrunk: [], slowest: {} };
  const deadline = Date.now() + opts.seconds * 1000;
  const one = async (r: Req): Promise<boolean> => {
    if (Date.now() > deadline) return true;
    const key = procedureOf(r);
    const s = (report.procedures[key] ??= { tried: 0, ok: 0, client: 0, server: 0, hangs: 0, dropped: 0 });
    s.tried++;
    const sentAt = Date.now();
    const { status, answer, request: req } = await send(r, opts.url, opts.callers);
    if (SLOW_MS.has(key)) report.slowest[key] = Math.max(report.slowest[key] ?? 0, Date.now() - sentAt);
    if (status === "hang") s.hangs++;
    else if (status === DROPPED) s.dropped++;
    else if (status >= 500) s.server++;
    else if (status >= 400) s.client++;
    else s.ok++;
    if (process.env.FUZZ_DEBUG && status !== "hang" && status < 500) opts.log?.(`${status} ${req.slice(0, 300)} -> ${answer.slice(0, 300)}`);
    if (status === "hang" || status >= 500) {
      if (report.failures.length < 20) report.failures.push({ procedure: key, status, request: req, answer });
      opts.log?.(`${new Date().toISOString().slice(11, 19)} ${status} ${req.slice(0, 300)} -> ${answer.slice(0, 200)}`);
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
  await Promise.all(
    Array.from({ length: runners }, async (_, i) => {
      for (let round = 0; Date.now() < deadline; round++) {
        const out = await fc.check(property, { seed: seed + i * 1000 + round, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: Math.max(1, deadline - Date.now()), markInterruptAsFailure: false, endOnFailure: false, maxSkipsPerRun: 0 });
        if (out.failed && out.counterexample) report.shrunk.push(preview(out.counterexample[0], build(out.counterexample[0], "")));
      }
    }),
  );
  await Promise.allSettled([...inFlight]);
  return report;
}

export function formatTrpcReport(r: TrpcFuzzReport, stream?: { events: number; runs: number; maxGapMs: number; stalls: number; errors: string[]; contexts?: StallContext[] }): string {
  const lines = [
    `tRPC fuzz: ${r.seconds} s, seed ${r.seed}${stream ? `; a generation watched through the web ran beside it (${stream.events} tokens over ${stream.runs} runs)` : ""}`,
    "",
    "| procedure | bodies tried | 2xx/3xx | 4xx | 5xx | hangs | dropped |",
    "|---|---|---|---|---|---|---|",
  ];
  const total: ProcedureStats = { tried: 0, ok: 0, client: 0, server: 0, hangs: 0, dropped: 0 };
  for (const [p, s] of Object.entries(r.procedures).sort()) {
    lines.push(`| ${p} | ${s.tried} | ${s.ok} | ${s.client} | ${s.server} | ${s.hangs} | ${s.dropped} |`);
    for (const k of Object.keys(total) as (keyof ProcedureStats)[]) total[k] += s[k];
  }
  lines.push(`| **all** | **${total.tried}** | ${total.ok} | ${total.client} | **${total.server}** | **${total.hangs}** | **${total.dropped}** |`);
  for (const [p, ms] of Object.entries(r.slowest)) lines.push("", `${p}: slowest answer ${(ms / 1000).toFixed(1)} s (its hang budget is ${SLOW_MS.get(p)! / 1000} s: it scans a whole dataset; every other procedure's is ${HANG_MS / 1000} s)`);
  if (stream) {
    lines.push("", `Concurrent web stream: longest gap between two tokens ${Math.round(stream.maxGapMs)} ms; stalls over 500 ms: ${stream.stalls}`);
    lines.push(...formatStalls(stream.contexts ?? []));
    for (const e of stream.errors) lines.push(`- stream: ${e}`);
  }
  for (const f of r.failures) lines.push(`- ${f.status} ${f.request.slice(0, 300)} -> ${f.answer.slice(0, 200)}`);
  for (const s of r.shrunk) lines.push(`- shrunk: ${s.slice(0, 400)}`);
  return lines.join("\n");
}
