/**
 * The training forward computes what the inference engine computes: last-position logits of the
 * fixture prompts (base model and PEFT adapters loaded into the training model) against the
 * engine's `cli logits` within 1e-4, and against transformers + PEFT (expected.json) within 1e-3.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { loadPeftAdapter } from "../../inference/adapters/peft";
import { PROJECTIONS } from "../../inference/adapters/lora-weights";
import { LoraTrainModel, type PackedBatch } from "../../inference/train/lora-model";
import { FIXTURES, fixtureModel, ROOT } from "./helpers";

const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), "train-fwd-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** one batch of whole prompts; the target rows are each prompt's last token */
function lastRows(prompts: number[][]): PackedBatch {
  const tokens = prompts.flat();
  const starts = [0];
  for (const p of prompts) starts.push(starts[starts.length - 1] + p.length);
  return {
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(prompts.flatMap((p) => p.map((_, i) => i))),
    seqStarts: Int32Array.from(starts),
    targetRows: Int32Array.from(starts.slice(1).map((s) => s - 1)),
    targets: new Int32Array(prompts.length),
  };
}

async function engineLogits(model: string, requests: { ids: number[]; adapter: string | null }[]): Promise<number[][]> {
  const file = path.join(tmp, `req-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(requests));
  const { stdout } = await run(process.execPath, ["--import", "tsx", "inference/cli/main.ts", "logits", "--model", model, "--requests", file], { cwd: ROOT, maxBuffer: 256 << 20 });
  return (JSON.parse(stdout.trim().split("\n").pop()!) as { last_logits: number[] }[]).map((r) => r.last_logits);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const CASES: [fixture: string, adapter: string | null][] = [
  ["tiny-llama", null], ["tiny-llama", "all-r16"], ["tiny-mistral", "all-r16"], ["tiny-mistral", "qv-r8"], ["tiny-llama3", "all-r16"],
  ["demo", "sentiment"],
];
const fixtureDir = (fx: string) => (fx === "demo" ? path.join(ROOT, "data/demo") : path.join(FIXTURES, fx));

describe("training forward = inference forward", () => {
  for (const [fx, adapterName] of CASES) {
    it(`${fx} ${adapterName ?? "base"}: logits vs the engine (1e-4) and transformers (1e-3)`, async () => {
      const dir = fixtureDir(fx);
      const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
      const prompts: number[][] = expected.prompts.map((p: { ids: number[] }) => p.ids);
      const { config, weights } = await fixtureModel(path.join(dir, "base"));
      const adapterDir = adapterName ? path.join(dir, "adapters", adapterName) : null;
      let model: LoraTrainModel;
      if (adapterDir) {
        const lw = await loadPeftAdapter(adapterDir, adapterName!, config);
        const first = Object.values(lw.layers[0])[0]!;
        model = new LoraTrainModel(config, weights, { r: first.r, alpha: first.scale * first.r, dropout: 0.05, targets: PROJECTIONS.filter((p) => lw.targetModules.includes(p)) });
        for (const p of model.params) {
          const pair = lw.layers[p.layer][p.proj]!;
          p.a.set(pair.a);
          p.b.set(pair.b);
        }
      } else {
        model = new LoraTrainModel(config, weights, { r: 1, alpha: 1, dropout: 0, targets: [] });
      }
      const logits = model.logits(lastRows(prompts));
      const V = config.vocabSize;
      const engine = await engineLogits(path.join(dir, "base"), prompts.map((ids) => ({ ids, adapter: adapterDir })));
      prompts.forEach((_, i) => {
        const mine = logits.subarray(i * V, (i + 1) * V);
        expect(maxAbsDiff(mine, engine[i])).toBeLessThan(1e-4);
        expect(maxAbsDiff(mine, expected.runs[adapterName ?? "__base__"][i].last_logits)).toBeLessThan(1e-3);
      });
    });
  }
});
