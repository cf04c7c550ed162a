/**
 * What the adapter loader refuses, and how: each case a copy of a fixture adapter with one thing
 * broken; the error is an AdapterError naming the adapter and the field, and nothing else breaks.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, renameSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPeftAdapter, readAdapterMeta } from "../../inference/adapters/peft";
import { readModelConfig } from "../../inference/model/config";
import { AdapterError } from "../../inference/errors";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FIX = path.join(ROOT, "tests/data/fixtures");
const tmp = mkdtempSync(path.join(os.tmpdir(), "adapters-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function copyAdapter(name = "qv-r8", model = "tiny-llama"): string {
  const dir = path.join(tmp, `a${n++}`);
  cpSync(path.join(FIX, model, "adapters", name), dir, { recursive: true });
  return dir;
}
function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const file = path.join(dir, "adapter_config.json");
  const c = JSON.parse(readFileSync(file, "utf8"));
  edit(c);
  writeFileSync(file, JSON.stringify(c));
}

describe("PEFT adapter loading", () => {
  it("reads metadata from the config and header only, and loads fp32 weights with the right scales", async () => {
    const base = await readModelConfig(path.join(FIX, "tiny-llama/base"));
    const meta = await readAdapterMeta(path.join(FIX, "tiny-llama/adapters/mlp-r4-rs"), "mlp", base);
    expect(meta).toMatchObject({ rank: 4, alpha: 8, targetModules: ["gate_proj", "up_proj", "down_proj"], baseModel: "tiny-llama/base" });
    const w = await loadPeftAdapter(path.join(FIX, "tiny-llama/adapters/mlp-r4-rs"), "mlp", base);
    expect(w.layers[0].up_proj!.scale).toBeCloseTo(8 / Math.sqrt(4)); // rslora
    expect(w.layers[0].q_proj).toBeUndefined();
    const qv = await loadPeftAdapter(path.join(FIX, "tiny-llama/adapters/qv-r8"), "qv", base);
    expect(qv.layers[1].v_proj!.scale).toBe(2);
    const qvMeta = await readAdapterMeta(path.join(FIX, "tiny-llama/adapters/qv-r8"), "qv", base);
    // 2 layers x (q, v) x (A (8,64) + B (out,8)) fp32
    expect(qv.bytes).toBe(qvMeta.bytes);
    expect(qv.bytes).toBe(2 * ((8 * 64 + 64 * 8) + (8 * 64 + 32 * 8)) * 4);
  });

  it("honours a regex target_modules, layers_to_transform and rank/alpha patterns", async () => {
    const base = await readModelConfig(path.join(FIX, "tiny-llama/base"));
    const dir = copyAdapter("qv-r8");
    editConfig(dir, (c) => { c.target_modules = ".*\\.(q|v)_proj"; c.alpha_pattern = { "layers\\.1\\.self_attn\\.v_proj": 4 }; });
    const w = await loadPeftAdapter(dir, "regex", base);
    expect(w.layers[0].v_proj!.scale).toBe(2);
    expect(w.layers[1].v_proj!.scale).toBe(0.5);
    editConfig(dir, (c) => { c.layers_to_transform = [0]; });
    await expect(loadPeftAdapter(dir, "layers", base)).rejects.toThrow(/layers_to_transform/);
  });

  const refusals: [string, (dir: string) => void, RegExp][] = [
    ["DoRA", (d) => editConfig(d, (c) => { c.use_dora = true; }), /use_dora/],
    ["modules_to_save", (d) => editConfig(d, (c) => { c.modules_to_save = ["lm_head"]; }), /modules_to_save/],
    ["bias training", (d) => editConfig(d, (c) => { c.bias = "all"; }), /bias/],
    ["a non-LoRA PEFT type", (d) => editConfig(d, (c) => { c.peft_type = "IA3"; }), /peft_type/],
    ["an unsupported target module", (d) => editConfig(d, (c) => { c.target_modules = ["q_proj", "embed_tokens"]; }), /target_modules.*embed_tokens/],
    ["a bad rank", (d) => editConfig(d, (c) => { c.r = 0; }), /\br\b.*positive/],
    ["a rank that disagrees with the tensors", (d) => editConfig(d, (c) => { c.r = 4; }), /shape/],
    ["invalid JSON config", (d) => writeFileSync(path.join(d, "adapter_config.json"), "{ not json"), /adapter_config\.json/],
    ["a missing config", (d) => rmSync(path.join(d, "adapter_config.json")), /adapter_config\.json is missing/],
    [".bin weights only", (d) => renameSync(path.join(d, "adapter_model.safetensors"), path.join(d, "adapter_model.bin")), /\.bin/],
    ["truncated weights", (d) => { const f = path.join(d, "adapter_model.safetensors"); truncateSync(f, statSync(f).size - 100); }, /truncated|end of file|data ends/],
    ["a garbage header", (d) => writeFileSync(path.join(d, "adapter_model.safetensors"), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1, 2, 3])), /header length/],
  ];

  it.each(refusals)("refuses %s with an AdapterError naming the field", async (_label, breakIt, message) => {
    const base = await readModelConfig(path.join(FIX, "tiny-llama/base"));
    const dir = copyAdapter();
    breakIt(dir);
    const err = await loadPeftAdapter(dir, "broken", base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).message).toMatch(/^adapter "broken": /);
    expect((err as AdapterError).message).toMatch(message);
    expect((err as AdapterError).field).toBeTruthy();
  });

  it("refuses an adapter made for another base shape (tiny-mistral adapter on tiny-llama)", async () => {
    const base = await readModelConfig(path.join(FIX, "tiny-llama/base"));
    const err = await loadPeftAdapter(path.join(FIX, "tiny-mistral/adapters/qv-r8"), "other", base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect(String((err as Error).message)).toMatch(/does not fit this base model|does not exist/);
  });
});
