import { cpSync, mkdtempSync, rmSync, truncateSync, statSync, writeFileSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadModel } from "../../inference/model/load";
import { checkMemory } from "../../inference/model/weights";
import { parseModelConfig, readModelConfig } from "../../inference/model/config";
import { getBackend } from "../../inference/kernels";
import { ModelLoadError, SafetensorsError } from "../../inference/errors";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BASE = path.join(ROOT, "tests/data/fixtures/tiny-llama/base");
const tmp = mkdtempSync(path.join(os.tmpdir(), "models-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const copy = () => { const d = path.join(tmp, `m${n++}`); cpSync(BASE, d, { recursive: true }); return d; };
const backend = getBackend("reference");

describe("model loading errors", () => {
  it("a missing config.json is a ModelLoadError", async () => {
    const d = copy();
    rmSync(path.join(d, "config.json"));
    await expect(loadModel(d, { backend })).rejects.toThrow(ModelLoadError);
  });

  it("an unknown architecture is refused naming it", async () => {
    const d = copy();
    const c = JSON.parse(readFileSync(path.join(d, "config.json"), "utf8"));
    c.architectures = ["GPT2LMHeadModel"];
    writeFileSync(path.join(d, "config.json"), JSON.stringify(c));
    await expect(loadModel(d, { backend })).rejects.toThrow(/unsupported architecture "GPT2LMHeadModel"/);
  });

  it("truncated weights are a SafetensorsError, and the next load works", async () => {
    const d = copy();
    const f = path.join(d, "model.safetensors");
    truncateSync(f, Math.floor(statSync(f).size / 2));
    await expect(loadModel(d, { backend })).rejects.toThrow(SafetensorsError);
    const ok = await loadModel(BASE, { backend });
    expect(ok.config.numLayers).toBe(2);
  });

  it("a shape that disagrees with config.json names the weight", async () => {
    const d = copy();
    const c = JSON.parse(readFileSync(path.join(d, "config.json"), "utf8"));
    c.intermediate_size = 100;
    writeFileSync(path.join(d, "config.json"), JSON.stringify(c));
    await expect(loadModel(d, { backend })).rejects.toThrow(/mlp\.gate_proj\.weight" has shape/);
  });

  it("accepts a 7B-shaped config and refuses it only for memory, with a clear message", async () => {
    const cfg = await readModelConfig(BASE);
    const mistral7b = parseModelConfig({
      architectures: ["MistralForCausalLM"], hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: 8,
      num_hidden_layers: 32, intermediate_size: 14336, vocab_size: 32000, max_position_embeddings: 32768,
      rope_theta: 10000, rms_norm_eps: 1e-5, sliding_window: 4096, torch_dtype: "bfloat16",
    });
    expect(mistral7b.slidingWindow).toBe(4096);
    expect(mistral7b.headDim).toBe(128);
    expect(() => checkMemory(cfg)).not.toThrow();
    if (os.totalmem() < 7.24e9 * 4 / 0.9) expect(() => checkMemory(mistral7b)).toThrow(/needs ~29\.0 GB for its fp32 weights/);
    else expect(() => checkMemory(mistral7b)).not.toThrow();
  });

  it("reads rope theta from rope_parameters and a null sliding window", async () => {
    const m = await readModelConfig(path.join(ROOT, "tests/data/fixtures/tiny-mistral/base"));
    expect(m.ropeTheta).toBe(1e6);
    expect(m.slidingWindow).toBe(24);
    const demo = await readModelConfig(path.join(ROOT, "data/demo/base"));
    expect(demo.slidingWindow).toBe(0);
    const l3 = await readModelConfig(path.join(ROOT, "tests/data/fixtures/tiny-llama3/base"));
    expect(l3.tieWordEmbeddings).toBe(true);
    expect(l3.eosTokenIds).toEqual([698]);
  });
});
