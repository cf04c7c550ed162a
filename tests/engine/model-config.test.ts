/** config.json parsing: the fields the forward pass relies on, and refusals naming the field. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseModelConfig, readModelConfig } from "../../inference/model/config";
import { ModelLoadError } from "../../inference/errors";

const LLAMA = { architectures: ["LlamaForCausalLM"], hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 128, vocab_size: 100 };
const tmp = mkdtempSync(path.join(os.tmpdir(), "model-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function refusal(cfg: Record<string, unknown>): ModelLoadError {
  try {
    parseModelConfig(cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error("expected a ModelLoadError");
}

describe("model config", () => {
  it("derives head_dim, defaults and GQA from a Llama config", () => {
    const c = parseModelConfig(LLAMA);
    expect(c).toMatchObject({ headDim: 16, numKvHeads: 2, ropeTheta: 10000, slidingWindow: 0, tieWordEmbeddings: false, modelType: "llama" });
    expect(parseModelConfig({ ...LLAMA, head_dim: 32 }).headDim).toBe(32);
    // a Llama config's sliding_window means nothing to Llama attention
    expect(parseModelConfig({ ...LLAMA, sliding_window: 8 }).slidingWindow).toBe(0);
    expect(parseModelConfig({ ...LLAMA, architectures: ["MistralForCausalLM"], sliding_window: null }).slidingWindow).toBe(0);
    expect(parseModelConfig({ ...LLAMA, architectures: ["MistralForCausalLM"], sliding_window: 8 }).slidingWindow).toBe(8);
  });

  it("reads eos ids as an int or a list, and from generation_config.json", async () => {
    expect(parseModelConfig({ ...LLAMA, eos_token_id: 2 }).eosTokenIds).toEqual([2]);
    expect(parseModelConfig({ ...LLAMA, eos_token_id: [2, 7] }).eosTokenIds).toEqual([2, 7]);
    const dir = path.join(tmp, "gen");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...LLAMA, eos_token_id: 2, bos_token_id: 1 }));
    writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [9, 2] }));
    const c = await readModelConfig(dir);
    expect(c.eosTokenIds.sort()).toEqual([2, 9]);
    expect(c.bosTokenId).toBe(1);
  });

  it.each([
    ["hidden_size", { hidden_size: undefined }],
    ["num_hidden_layers", { num_hidden_layers: 0 }],
    ["vocab_size", { vocab_size: "big" }],
    ["architectures", { architectures: ["Qwen2ForCausalLM"] }],
    ["num_key_value_heads", { num_key_value_heads: 3 }],
    ["hidden_act", { hidden_act: "gelu" }],
    ["rope_scaling.rope_type", { rope_scaling: { rope_type: "llama3", factor: 8 } }],
    ["rope_parameters.rope_type", { rope_parameters: { rope_type: "yarn", rope_theta: 1e4, factor: 4 } }],
  ])("refuses a bad %s naming the field", (field, patch) => {
    const err = refusal({ ...LLAMA, ...patch });
    expect(err.field).toBe(field);
    expect(err.message).toMatch(/config\.json/);
  });

  it("accepts linear RoPE scaling only with factor 1 (the default RoPE)", () => {
    expect(parseModelConfig({ ...LLAMA, rope_scaling: { type: "linear", factor: 1 } }).ropeTheta).toBe(10000);
    expect(refusal({ ...LLAMA, rope_scaling: { type: "linear", factor: 2 } }).message).toMatch(/RoPE scaling "linear"/);
  });
});
