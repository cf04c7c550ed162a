/**
 * The streaming detokenizer's cost per token, now and before its plain-piece path (the file as it
 * was at --before, default 0a95f27, read with `git show`), replaying the same token streams:
 * the demo model's reference greedy outputs (data/demo/expected.json: every adapter, every prompt)
 * and the ~25M synthetic model's own output (8 streams x 64 tokens; its random weights pick
 * partial-UTF-8 byte tokens often, which take the exact path). Rounds alternate; medians.
 *
 *   npx tsx bench/compat/detok.ts [--rounds 7] [--before COMMIT]
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { Engine } from "../../inference/engine/engine";
import { StreamingDetokenizer, type DecodingTokenizer } from "../../inference/engine/detokenizer";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import { ensure25m, median, ROOT } from "./synthetic-25m";

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "7" }, before: { type: "string", default: "0a95f27" } } });

type Detok = new (t: DecodingTokenizer, prompt: readonly number[]) => { push(id: number): string };

async function oldDetokenizer(): Promise<Detok> {
  const src = execFileSync("git", ["show", `${args.before}:inference/engine/detokenizer.ts`], { cwd: ROOT, encoding: "utf8" });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "detok-before-")), "detokenizer.ts");
  fs.writeFileSync(file, src);
  return ((await import(pathToFileURL(file).href)) as { StreamingDetokenizer: Detok }).StreamingDetokenizer;
}

interface Streams {
  label: string;
  tok: Tokenizer;
  streams: { prompt: number[]; ids: number[] }[];
}

async function demoStreams(): Promise<Streams> {
  const dir = path.join(ROOT, "data/demo");
  const expected = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8"));
  const streams: Streams["streams"] = [];
  for (const runs of Object.values(expected.runs) as { greedy: number[] }[][]) runs.forEach((r, i) => streams.push({ prompt: expected.prompts[i].ids, ids: r.greedy }));
  return { label: "demo model, reference greedy outputs", tok: await Tokenizer.load(path.join(dir, "base")), streams };
}

async function syntheticStreams(): Promise<Streams> {
  const synth = ensure25m();
  const engine = await Engine.create({ modelDir: synth.base, log: null, adapterSlots: 8 });
  const names = [...synth.adapters.keys()].slice(0, 8);
  for (const n of names) await engine.registerAdapter(n, synth.adapters.get(n)!, "local");
  const streams = await Promise.all(names.map(async (n, i) => {
    const prompt = engine.encode(Array.from({ length: 9 }, (_, j) => String.fromCharCode(97 + ((i * 3 + j * 7) % 26))).join(" "));
    const ids: number[] = [];
    for await (const ev of engine.generate({ promptIds: prompt, adapterId: n, maxNewTokens: 64, ignoreEos: true })) if (ev.type === "token") ids.push(ev.id);
    return { prompt, ids };
  }));
  await engine.shutdown();
  return { label: "~25M synthetic model, its own output", tok: await Tokenizer.load(synth.base), streams };
}

function usPerToken(D: Detok, s: Streams): { us: number; text: string } {
  const t0 = performance.now();
  let text = "";
  let n = 0;
  for (const { prompt, ids } of s.streams) {
    const d = new D(s.tok, prompt);
    for (const id of ids) text += d.push(id);
    n += ids.length;
  }
  return { us: ((performance.now() - t0) * 1000) / n, text };
}

const Old = await oldDetokenizer();
const lines = [`machine: ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, load average ${os.loadavg()[0]!.toFixed(1)}; ${args.rounds} alternating rounds, medians`, "", `| token streams | tokens | before (${args.before}) µs/token | now µs/token |`, "|---|---:|---:|---:|"];
for (const s of [await demoStreams(), await syntheticStreams()]) {
  usPerToken(StreamingDetokenizer, s); // the plain-piece memo and JIT warm
  usPerToken(Old, s);
  const before: number[] = [];
  const now: number[] = [];
  for (let r = 0; r < Number(args.rounds); r++) {
    const a = usPerToken(Old, s);
    const b = usPerToken(StreamingDetokenizer, s);
    if (a.text !== b.text) throw new Error(`${s.label}: the texts differ`);
    before.push(a.us);
    now.push(b.us);
  }
  lines.push(`| ${s.label} | ${s.streams.reduce((x, y) => x + y.ids.length, 0)} | ${median(before).toFixed(2)} | ${median(now).toFixed(2)} |`);
}
console.log(lines.join("\n"));
