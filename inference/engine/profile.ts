/**
 * Where an engine step's time goes, on the synthetic benchmark model (bench/out/synthetic, made by
 * `npm run bench:engine`). Not a benchmark of record (that is bench/engine); a tool to find the
 * overhead that is not the kernels'.
 *
 *   npx tsx inference/engine/profile.ts [--runs 3] [--tokens 64] [--prompt 16] [--streams 8]
 *     [--only NAME,...] [--alternatives N] [--ab-logits] [--ab-alt-memo] [--ab-skip-lora]
 *
 * Scenarios: 1 stream on the base; N (--streams) streams on the base; N streams on N distinct
 * r=8 q/v adapters. Each step is split into model.forward (and, within it, each Backend op), sampling,
 * detokenization, scheduling, batch building (the rest of the step) and the gap between steps
 * (setImmediate + event delivery to the consumers). Medians over the runs, in ms per step.
 * Timers wrap methods on the prototypes and the native backend object, so this process only.
 */
import path from "node:path";
import fs from "node:fs";
import { parseArgs } from "node:util";
import { Engine } from "./engine";
import { Scheduler } from "./scheduler";
import { RequestSampler } from "./sampler";
import { StreamingDetokenizer } from "./detokenizer";
import { Model } from "../model/model";
import { nativeBackend } from "../kernels/index";
import type { Backend } from "../kernels/backend";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    tokens: { type: "string", default: "64" },
    prompt: { type: "string", default: "16" },
    model: { type: "string", default: "bench/out/synthetic/base" },
    adapters: { type: "string", default: "bench/out/synthetic/adapters" },
    only: { type: "string", default: "" },
    /** streams of the many-streams scenarios (8 by default; P4 uses 32) */
    streams: { type: "string", default: "8" },
    /** also run each scenario with model.forward allocating its logits (the pre-reuse behaviour) */
    "ab-logits": { type: "boolean", default: false },
    /** top alternatives per token (0 = none) */
    alternatives: { type: "string", default: "0" },
    /** also run each scenario without the memo of alternatives' token texts (the pre-memo behaviour) */
    "ab-alt-memo": { type: "boolean", default: false },
    /** also run the adapter scenario with the LoRA op skipped (wrong tokens, for timing the rest only) */
    "ab-skip-lora": { type: "boolean", default: false },
  },
});
const RUNS = Number(args.runs);
const NEW = Number(args.tokens);
const PROMPT = Number(args.prompt);
const ALTERNATIVES = Number(args.alternatives);

/** a Map that never remembers: stands in for Engine's token text memo in the "no memo" runs */
class ForgetfulMap<K, V> extends Map<K, V> {
  override set(): this { return this; }
}

// ---- timers ------------------------------------------------------------------------------------
const acc = new Map<string, number>(); // label -> ms in the current run
function add(label: string, ms: number) { acc.set(label, (acc.get(label) ?? 0) + ms); }

/** replaces obj[name] by a timed wrapper (sync methods) */
function timeMethod(obj: Record<string, unknown>, name: string, label: string) {
  const orig = obj[name] as (...a: unknown[]) => unknown;
  obj[name] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    try { return orig.apply(this, a); } finally { add(label, performance.now() - t0); }
  };
}

const ops: (keyof Backend)[] = ["matmul", "rmsNorm", "rope", "siluMul", "addInPlace", "embed", "kvWrite", "attention", "lora"];
for (const op of ops) timeMethod(nativeBackend as unknown as Record<string, unknown>, op, `  op.${op}`);
// the LM head is the last matmul of forward: time it apart from the projections
{
  const be = nativeBackend as unknown as Record<string, (...a: unknown[]) => unknown>;
  const timedMatmul = be.matmul;
  be.matmul = function (this: unknown, ...a: unknown[]) {
    if (a[5] === lmVocab) {
      const t0 = performance.now();
      try { return timedMatmul.apply(this, a); } finally { add("  op.matmul(lm_head)", performance.now() - t0); add("  op.matmul", -(performance.now() - t0)); }
    }
    return timedMatmul.apply(this, a);
  };
}
let lmVocab = -1;
let skipLora = false;
{
  const be = nativeBackend as unknown as Record<string, (...a: unknown[]) => unknown>;
  const timedLora = be.lora;
  be.lora = function (this: unknown, ...a: unknown[]) { return skipLora ? undefined : timedLora.apply(this, a); };
}
let freshLogits = false;
{
  const M = Model.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = M.forward;
  M.forward = function (this: unknown, batch: unknown, kv: unknown, opts: unknown) {
    return orig.call(this, batch, kv, freshLogits ? {} : opts);
  };
}
timeMethod(Model.prototype as unknown as Record<string, unknown>, "forward", "model.forward");
timeMethod(RequestSampler.prototype as unknown as Record<string, unknown>, "sample", "sample");
timeMethod(RequestSampler.prototype as unknown as Record<string, unknown>, "accept", "sample");
timeMethod(StreamingDetokenizer.prototype as unknown as Record<string, unknown>, "push", "detokenize");
timeMethod(StreamingDetokenizer.prototype as unknown as Record<string, unknown>, "flush", "detokenize");
timeMethod(Scheduler.prototype as unknown as Record<string, unknown>, "schedule", "schedule");
const E = Engine.prototype as unknown as Record<string, unknown>;
timeMethod(E, "onToken", "onToken (all)");
// whole steps, and the gaps between them (setImmediate wake-up + consumers' promise callbacks)
let steps = 0;
let lastStepEnd = -1;
{
  const orig = E.step as (...a: unknown[]) => unknown;
  E.step = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    if (lastStepEnd >= 0) add("gap between steps", t0 - lastStepEnd);
    try { return orig.apply(this, a); } finally {
      lastStepEnd = performance.now();
      add("step (all)", lastStepEnd - t0);
      steps++;
    }
  };
}

// ---- scenarios -----------------------------------------------------------------------------------
function promptIds(len: number, seed: number, vocab: number): number[] {
  let x = seed * 2654435761 >>> 0;
  const ids = [1];
  while (ids.length < len) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    ids.push(259 + (x % (vocab - 259)));
  }
  return ids;
}

async function streams(engine: Engine, n: number, adapters: (string | null)[], seed: number) {
  const vocab = engine.model.vocabSize;
  const t0 = performance.now();
  let tokens = 0;
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    for await (const ev of engine.generate({ promptIds: promptIds(PROMPT, seed + i, vocab), adapterId: adapters[i % adapters.length], maxNewTokens: NEW, ignoreEos: true, topAlternatives: ALTERNATIVES })) {
      if (ev.type === "token") tokens++;
      else if (ev.type === "error") throw new Error(`${ev.code}: ${ev.message}`);
    }
  }));
  return { ms: performance.now() - t0, tokens };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  const modelDir = path.resolve(args.model!);
  if (!fs.existsSync(path.join(modelDir, "config.json"))) {
    throw new Error(`no model at ${modelDir}: run \`npm run bench:engine -- --quick --only P1\` once to generate bench/out/synthetic`);
  }
  const engine = await Engine.create({
    modelDir, backend: "native", log: null, blockSize: 16, maxRunning: 32, maxBatchTokens: 512,
    adapterSlots: 40, kvCacheBytes: 512 * 2 ** 20, maxContext: 1024,
  });
  lmVocab = engine.model.vocabSize;
  const N = Number(args.streams);
  const eight = Array.from({ length: N }, (_, i) => `qv-r8-${String(i).padStart(3, "0")}`); // N distinct adapters
  for (const a of eight) {
    await engine.registerAdapter(a, path.resolve(args.adapters!, a), "local");
    await engine.preloadAdapter(a);
  }
  await streams(engine, 2, [null], 1); // warm-up

  const base: { name: string; n: number; adapters: (string | null)[]; fresh?: boolean }[] = [
    { name: "1 stream, base", n: 1, adapters: [null] },
    { name: `${N} streams, base`, n: N, adapters: [null] },
    { name: `${N} streams, ${N} adapters`, n: N, adapters: eight },
  ].filter((s) => !args.only || args.only.split(",").some((o) => s.name.includes(o)));
  type Scenario = (typeof base)[number] & { noMemo?: boolean; skipLora?: boolean };
  let scenarios: Scenario[] = base;
  if (args["ab-logits"]) scenarios = scenarios.flatMap((s) => [{ ...s, name: `${s.name} (fresh logits)`, fresh: true }, s]);
  if (args["ab-alt-memo"]) scenarios = scenarios.flatMap((s) => [{ ...s, name: `${s.name} (no text memo)`, noMemo: true }, s]);
  if (args["ab-skip-lora"]) scenarios = scenarios.flatMap((s) => s.adapters.some((a) => a !== null) ? [{ ...s, name: `${s.name} (LoRA op skipped)`, skipLora: true }, s] : [s]);
  const engineMemo = engine as unknown as { tokenTexts: Map<number, string> };

  // per scenario: label -> per-run ms/step, plus tok/s per run; runs interleave the scenarios
  const results = scenarios.map(() => ({ perStep: new Map<string, number[]>(), rate: [] as number[] }));
  for (let run = 0; run < RUNS; run++) {
    // odd runs go through the scenarios in reverse, so a drift of the machine's load over the run
    // does not favour the scenarios that come first
    const indexed = [...scenarios.entries()];
    for (const [si, sc] of run % 2 ? indexed.reverse() : indexed) {
      acc.clear();
      steps = 0;
      lastStepEnd = -1;
      freshLogits = sc.fresh ?? false;
      skipLora = sc.skipLora ?? false;
      engineMemo.tokenTexts = sc.noMemo ? new ForgetfulMap() : new Map(); // each run starts with an empty memo
      const { ms, tokens } = await streams(engine, sc.n, sc.adapters, 100 + run * 16);
      const r = results[si];
      r.rate.push(tokens / (ms / 1000));
      const labels = new Set([...acc.keys(), ...r.perStep.keys()]);
      for (const label of labels) {
        if (!r.perStep.has(label)) r.perStep.set(label, []);
        r.perStep.get(label)!.push((acc.get(label) ?? 0) / steps);
      }
      const other = (acc.get("step (all)") ?? 0) - (acc.get("model.forward") ?? 0) - (acc.get("onToken (all)") ?? 0) - (acc.get("schedule") ?? 0);
      if (!r.perStep.has("batch build + rest of step")) r.perStep.set("batch build + rest of step", []);
      r.perStep.get("batch build + rest of step")!.push(other / steps);
      const evt = (acc.get("onToken (all)") ?? 0) - (acc.get("sample") ?? 0) - (acc.get("detokenize") ?? 0);
      if (!r.perStep.has("onToken: events + stop + rest")) r.perStep.set("onToken: events + stop + rest", []);
      r.perStep.get("onToken: events + stop + rest")!.push(evt / steps);
    }
  }

  const order = ["step (all)", "model.forward", ...ops.map((o) => `  op.${o}`), "  op.matmul(lm_head)", "schedule", "batch build + rest of step",
    "onToken (all)", "sample", "detokenize", "onToken: events + stop + rest", "gap between steps"];
  const head = `| ms per step (median of ${RUNS}) | ${scenarios.map((s) => s.name).join(" | ")} |`;
  const lines = [head, `|---|${scenarios.map(() => "---:").join("|")}|`];
  lines.push(`| tokens/s (aggregate) | ${results.map((r) => median(r.rate).toFixed(1)).join(" | ")} |`);
  for (const label of order) {
    if (!results.some((r) => r.perStep.has(label))) continue;
    lines.push(`| ${label.replace(/^ {2}/, "&nbsp;&nbsp;")} | ${results.map((r) => { const v = r.perStep.get(label); return v ? median(v).toFixed(3) : "-"; }).join(" | ")} |`);
  }
  if (results.length === 3 && scenarios === base) lines.push(`\nP2-like ratio (${N} adapters ÷ ${N} base, tokens/s medians): ${(median(results[2].rate) / median(results[1].rate)).toFixed(3)}`);
  console.log(lines.join("\n"));
  await engine.shutdown();
}

main().catch((e) => { console.error(e); process.exit(1); });
