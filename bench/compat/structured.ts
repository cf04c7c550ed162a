/**
 * What structured output costs per token (issue 13 item 7; goal <= 10% of a decode step at 8
 * streams): the engine on the ~25M model (synthetic-25m.ts), 8 streams on 8 distinct adapters,
 * 10-token prompts, 64 new tokens, each stream with its own JSON schema (so 8 automata and 8 mask
 * caches in one batch), against the same streams unconstrained; the runs alternate. Timers wrap
 * JsonConstraint.mask/accept (the constraint's own work) and Model.forward.
 *
 *   npx tsx bench/compat/structured.ts [--runs 7] [--misses]
 *
 * --misses instead times a mask computed for a state met for the first time (a cache miss: one
 * walk of the vocabulary's trie), at each character of a document of the schema, on the demo
 * model's vocabulary (4,096 BPE pieces) and on synthetic ones of 700 and 32,000 pieces.
 *
 * The first constrained run starts with empty schema and mask caches (compile + mask misses);
 * it is reported apart from the medians of the later (warm) runs.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { Engine } from "../../inference/engine/engine";
import { compileSchema, JsonConstraint, pieceOutputText, type ConstraintVocab } from "../../inference/engine/json-constraint";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import { buildVocab } from "../engine/synthetic";
import path from "node:path";
import { Model } from "../../inference/model/model";
import { promptIds } from "../engine/common";
import { ensure25m, median, SHAPE_25M } from "./synthetic-25m";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "7" }, tokens: { type: "string", default: "64" }, misses: { type: "boolean", default: false } } });
const RUNS = Number(args.runs);
const NEW = Number(args.tokens);
const STREAMS = 8;

const acc = { constraint: 0, forward: 0, masks: 0, misses: 0 };
function time(obj: object, name: string, key: "constraint" | "forward"): void {
  const o = obj as Record<string, (...a: unknown[]) => unknown>;
  const orig = o[name]!;
  o[name] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    try {
      return orig.apply(this, a);
    } finally {
      acc[key] += performance.now() - t0;
    }
  };
}
time(JsonConstraint.prototype, "mask", "constraint");
time(JsonConstraint.prototype, "accept", "constraint");
time(Model.prototype, "forward", "forward");

/** stream i's schema: a record with its own key names (free strings, an integer, a list) */
function schemaFor(i: number): object {
  return {
    type: "object",
    properties: { [`name_${i}`]: { type: "string" }, note: { type: "string" }, count: { type: "integer" }, tags: { type: "array", items: { type: "string" }, maxItems: 4 }, ok: { type: "boolean" } },
    required: [`name_${i}`, "count"],
    additionalProperties: false,
  };
}

interface Run {
  wallPerStep: number;
  forwardPerStep: number;
  constraintPerStep: number;
  steps: number;
  valid: number;
}

async function run(engine: Engine, adapters: string[], constrained: boolean): Promise<Run> {
  acc.constraint = 0;
  acc.forward = 0;
  const steps0 = engine.stats().steps;
  const t0 = performance.now();
  const texts = await Promise.all(adapters.map(async (a, i) => {
    let text = "";
    for await (const ev of engine.generate({ promptIds: promptIds(10, 100 + i, SHAPE_25M.vocab), adapterId: a, maxNewTokens: NEW, ignoreEos: true, responseFormat: constrained ? { schema: schemaFor(i) } : undefined })) {
      if (ev.type === "done") text = ev.text;
      if (ev.type === "error") throw new Error(ev.message);
    }
    return text;
  }));
  const wall = performance.now() - t0;
  const steps = engine.stats().steps - steps0;
  let valid = 0;
  for (const t of texts) {
    try {
      JSON.parse(t);
      valid++;
    } catch {
      // not closed within the tokens
    }
  }
  return { wallPerStep: (wall / steps) * 1000, forwardPerStep: (acc.forward / steps) * 1000, constraintPerStep: (acc.constraint / steps) * 1000, steps, valid };
}

async function main(): Promise<void> {
  const synth = ensure25m((l) => process.stderr.write(l + "\n"));
  const engine = await Engine.create({ modelDir: synth.base, log: null, adapterSlots: 8 });
  const adapters = [...synth.adapters.keys()].slice(0, STREAMS);
  for (const a of adapters) await engine.registerAdapter(a, synth.adapters.get(a)!, "local", { validate: true });
  await run(engine, adapters, false); // warm-up (JIT, adapters resident)
  const cold = await run(engine, adapters, true);
  const plain: Run[] = [];
  const schema: Run[] = [];
  const loads: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const c of r % 2 ? [true, false] : [false, true]) {
      (c ? schema : plain).push(await run(engine, adapters, c));
      loads.push(os.loadavg()[0]!);
    }
    process.stderr.write(`run ${r + 1}/${RUNS}: plain ${plain.at(-1)!.wallPerStep.toFixed(0)} µs/step, schema ${schema.at(-1)!.wallPerStep.toFixed(0)} µs/step (constraint ${schema.at(-1)!.constraintPerStep.toFixed(0)})\n`);
  }
  const m = (rs: Run[], k: keyof Run) => median(rs.map((x) => x[k]));
  const step = m(plain, "wallPerStep");
  const perStep = m(schema, "constraintPerStep");
  const lines = [
    `# Structured output cost: ${STREAMS} streams x ${STREAMS} adapters, each with its own JSON schema, 10-token prompts, ${NEW} new tokens (~25M model, vocab ${SHAPE_25M.vocab})`,
    "",
    `machine: ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, node ${process.version}; load average (1 min): median ${median(loads).toFixed(1)}, max ${Math.max(...loads).toFixed(1)}; ${RUNS} runs each, alternating, medians`,
    "",
    "| µs per decode step (8 tokens) | unconstrained | with schemas |",
    "|---|---:|---:|",
    `| wall | ${step.toFixed(0)} | ${m(schema, "wallPerStep").toFixed(0)} |`,
    `| forward | ${m(plain, "forwardPerStep").toFixed(0)} | ${m(schema, "forwardPerStep").toFixed(0)} |`,
    `| constraint (mask + accept, 8 requests) | — | ${perStep.toFixed(1)} |`,
    "",
    `constraint per token: ${(perStep / STREAMS).toFixed(2)} µs; per step ${((perStep / step) * 100).toFixed(2)}% of an unconstrained decode step (goal <= 10%); wall difference ${(((m(schema, "wallPerStep") - step) / step) * 100).toFixed(1)}% (noise included)`,
    `first constrained run (8 schemas compiled, masks computed on first use): constraint ${cold.constraintPerStep.toFixed(0)} µs per step (${((cold.constraintPerStep / step) * 100).toFixed(1)}%); answers that parse within ${NEW} tokens: ${m(schema, "valid")} of ${STREAMS}`,
  ];
  console.log(lines.join("\n"));
  await engine.shutdown();
}

/** one ConstraintVocab from a tokenizer folder, as the engine builds it */
async function vocabOf(dir: string): Promise<ConstraintVocab> {
  const tok = await Tokenizer.load(dir);
  const pieces: (string | undefined)[] = [];
  for (let id = 0; ; id++) {
    const p = tok.idToToken(id);
    if (p === undefined) break;
    pieces.push(p);
  }
  const byteLevel = pieces.some((p) => p?.includes("Ġ"));
  return { texts: pieces.map((p, id) => (!p || tok.isSpecial(id) ? null : pieceOutputText(p, byteLevel))), eosIds: new Set(tok.eosIds) };
}

async function misses(): Promise<void> {
  const synthetic = (n: number): ConstraintVocab => ({ texts: buildVocab(n).tokens.map((t, id) => (id < 3 ? null : pieceOutputText(t, false))), eosIds: new Set([2]) });
  const vocabs: [string, ConstraintVocab][] = [
    ["synthetic 700", synthetic(700)],
    ["demo model 4,096 (BPE)", await vocabOf(path.join(import.meta.dirname, "../../data/demo/base"))],
    ["synthetic 32,000", synthetic(32000)],
  ];
  const doc = JSON.stringify({ name_0: "Anna Reed", count: 12, tags: ["a", "bc"], ok: true });
  const lines = ["| vocabulary | mask misses timed | median µs | p90 µs |", "|---|---:|---:|---:|"];
  for (const [label, vocab] of vocabs) {
    const single = new Map<string, number>();
    vocab.texts.forEach((t, id) => { if (t && t.length === 1 && !single.has(t)) single.set(t, id); });
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const c = new JsonConstraint(vocab, compileSchema(schemaFor(0))); // a fresh compile: every state is a miss
      for (const ch of doc) {
        const t0 = performance.now();
        c.mask();
        times.push((performance.now() - t0) * 1000);
        c.accept(single.get(ch)!);
      }
    }
    times.sort((a, b) => a - b);
    lines.push(`| ${label} | ${times.length} | ${median(times).toFixed(0)} | ${times[Math.floor(times.length * 0.9)]!.toFixed(0)} |`);
  }
  console.log(`# Mask cache misses (a state met for the first time), ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, load average ${os.loadavg()[0]!.toFixed(1)}\n\n${lines.join("\n")}`);
}

await (args.misses ? misses() : main());
