/**
 * The benchmark's synthetic model generator and GGUF export: the HF directory is well-formed
 * (shapes, tokenizer loadable by @huggingface/tokenizers, deterministic), GGUF files parse back
 * with the right metadata/shapes/values, and the q/k permutation turns HF's rotate_half RoPE into
 * GGML's interleaved RoPE exactly.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "@huggingface/tokenizers";
import { buildVocab, ensureSynthetic, randomNormal, type SyntheticShape } from "../../bench/engine/synthetic";
import { readSafetensorsHeader, readSafetensorsTensor } from "../../bench/engine/safetensors";
import { GgufType, f32, f32Arr, i32Arr, readGguf, readGgufTensor, str, strArr, u32, writeGguf } from "../../bench/engine/gguf";
import { exportAdapterGguf, exportModelGguf, permuteRope } from "../../bench/engine/gguf-export";

export const TINY: SyntheticShape = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, vocab: 400, ropeTheta: 10000, maxPositions: 256 };
const SPECS = [
  { name: "qv", r: 4, alpha: 8, targets: ["q_proj", "v_proj"] as const },
  { name: "all", r: 2, alpha: 4, targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const },
];

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-synth-")); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe("synthetic HF model", () => {
  it("writes a Mistral config, fp32 safetensors of the right shapes and PEFT adapters", () => {
    const p = ensureSynthetic(path.join(dir, "a"), TINY, SPECS);
    const cfg = JSON.parse(fs.readFileSync(path.join(p.base, "config.json"), "utf8"));
    expect(cfg.architectures).toEqual(["MistralForCausalLM"]);
    expect(cfg.sliding_window).toBeNull();
    expect(cfg.tie_word_embeddings).toBe(false);
    const h = readSafetensorsHeader(path.join(p.base, "model.safetensors"));
    expect(h.size).toBe(3 + 9 * TINY.layers);
    expect(h.get("model.layers.1.self_attn.k_proj.weight")!.shape).toEqual([32, 64]); // 2 kv heads x 16
    expect(h.get("model.layers.0.mlp.down_proj.weight")!.shape).toEqual([64, 96]);
    expect(h.get("lm_head.weight")!.shape).toEqual([400, 64]);
    const emb = readSafetensorsTensor(path.join(p.base, "model.safetensors"), h.get("model.embed_tokens.weight")!);
    const std = Math.sqrt(emb.reduce((a, x) => a + x * x, 0) / emb.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);

    const ah = readSafetensorsHeader(path.join(p.adapters.get("all")!, "adapter_model.safetensors"));
    expect(ah.size).toBe(2 * 7 * TINY.layers);
    expect(ah.get("base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight")!.shape).toEqual([2, 64]);
    expect(ah.get("base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight")!.shape).toEqual([96, 2]);
    const acfg = JSON.parse(fs.readFileSync(path.join(p.adapters.get("qv")!, "adapter_config.json"), "utf8"));
    expect(acfg).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"], use_dora: false });
  });

  it("is deterministic: a second generation has identical bytes", () => {
    const a = ensureSynthetic(path.join(dir, "d1"), TINY, SPECS);
    const b = ensureSynthetic(path.join(dir, "d2"), TINY, SPECS);
    for (const f of ["base/model.safetensors", "base/tokenizer.json", "adapters/all/adapter_model.safetensors"]) {
      expect(fs.readFileSync(path.join(a.root, f)).equals(fs.readFileSync(path.join(b.root, f)))).toBe(true);
    }
    expect(randomNormal("x", 8, 1)).toEqual(randomNormal("x", 8, 1));
    expect(randomNormal("x", 8, 1)).not.toEqual(randomNormal("y", 8, 1));
  });

  it("has a tokenizer of exactly vocab_size tokens that @huggingface/tokenizers loads and round-trips", () => {
    const p = ensureSynthetic(path.join(dir, "a"), TINY, SPECS);
    const tj = JSON.parse(fs.readFileSync(path.join(p.base, "tokenizer.json"), "utf8"));
    const tc = JSON.parse(fs.readFileSync(path.join(p.base, "tokenizer_config.json"), "utf8"));
    expect(Object.keys(tj.model.vocab)).toHaveLength(TINY.vocab);
    const tok = new Tokenizer(tj, tc);
    const enc = tok.encode("hello wörld");
    expect(enc.ids[0]).toBe(1); // BOS from the post-processor
    expect(Math.max(...enc.ids)).toBeLessThan(TINY.vocab);
    expect(enc.tokens).toContain("<0xC3>"); // byte fallback for ö
    expect(tok.decode(enc.ids, { skip_special_tokens: true })).toBe("hello wörld");
    const v = buildVocab(32000);
    expect(v.tokens).toHaveLength(32000);
    expect(new Set(v.tokens).size).toBe(32000);
    for (const [a, b] of v.merges.slice(-50)) expect(v.tokens).toContain(a + b);
  });
});

describe("GGUF", () => {
  it("round-trips metadata of every kind and aligned tensor data", () => {
    const file = path.join(dir, "rt.gguf");
    const t1 = Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3);
    const t2 = Float32Array.from({ length: 7 }, (_, i) => -i);
    writeGguf(file, [
      ["general.architecture", str("llama")], ["n", u32(7)], ["eps", f32(1e-5)],
      ["toks", strArr(["a", "▁b", "<0x0A>"])], ["scores", f32Arr([0, -1.5])], ["types", i32Arr([1, 6, -3])],
    ], [{ name: "t1", ne: [5, 3], data: () => t1 }, { name: "t2", ne: [7], data: () => t2 }]);
    const g = readGguf(file);
    expect(g.version).toBe(3);
    expect(g.kv.get("general.architecture")).toBe("llama");
    expect(g.kv.get("n")).toBe(7);
    expect(g.kv.get("eps")).toBeCloseTo(1e-5, 10);
    expect(g.kv.get("toks")).toEqual(["a", "▁b", "<0x0A>"]);
    expect(g.kv.get("scores")).toEqual([0, -1.5]);
    expect(g.kv.get("types")).toEqual([1, 6, -3]);
    expect(g.tensors.map((t) => [t.name, t.ne, t.offset % 32])).toEqual([["t1", [5, 3], 0], ["t2", [7], 0]]);
    expect(g.dataOffset % 32).toBe(0);
    expect(readGgufTensor(file, g, "t1")).toEqual(t1);
    expect(readGgufTensor(file, g, "t2")).toEqual(t2);
    expect(GgufType.ARRAY).toBe(9);
  });

  it("exports the model as llama arch with GGML names, reversed shapes and permuted q/k only", () => {
    const p = ensureSynthetic(path.join(dir, "a"), TINY, SPECS);
    const file = path.join(dir, "model.gguf");
    exportModelGguf(p.base, file);
    const g = readGguf(file);
    expect(g.kv.get("general.architecture")).toBe("llama");
    expect(g.kv.get("llama.block_count")).toBe(2);
    expect(g.kv.get("llama.attention.head_count")).toBe(4);
    expect(g.kv.get("llama.attention.head_count_kv")).toBe(2);
    expect(g.kv.get("llama.rope.dimension_count")).toBe(16);
    expect(g.kv.get("llama.feed_forward_length")).toBe(96);
    expect(g.kv.get("tokenizer.ggml.model")).toBe("llama");
    expect((g.kv.get("tokenizer.ggml.tokens") as string[]).length).toBe(TINY.vocab);
    expect((g.kv.get("tokenizer.ggml.token_type") as number[]).slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(g.tensors).toHaveLength(3 + 9 * TINY.layers);
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get("token_embd.weight")!.ne).toEqual([64, 400]);
    expect(byName.get("blk.1.attn_k.weight")!.ne).toEqual([64, 32]);
    expect(byName.get("blk.0.ffn_down.weight")!.ne).toEqual([96, 64]);
    expect(byName.get("output.weight")!.ne).toEqual([64, 400]);

    const st = path.join(p.base, "model.safetensors");
    const h = readSafetensorsHeader(st);
    const hf = (n: string) => readSafetensorsTensor(st, h.get(n)!);
    expect(readGgufTensor(file, g, "blk.0.attn_v.weight")).toEqual(hf("model.layers.0.self_attn.v_proj.weight"));
    expect(readGgufTensor(file, g, "blk.1.ffn_gate.weight")).toEqual(hf("model.layers.1.mlp.gate_proj.weight"));
    expect(readGgufTensor(file, g, "blk.0.attn_q.weight")).toEqual(permuteRope(hf("model.layers.0.self_attn.q_proj.weight"), 4, 64));
    expect(readGgufTensor(file, g, "blk.0.attn_k.weight")).toEqual(permuteRope(hf("model.layers.0.self_attn.k_proj.weight"), 2, 64));
    expect(readGgufTensor(file, g, "blk.0.attn_q.weight")).not.toEqual(hf("model.layers.0.self_attn.q_proj.weight"));
  });

  it("exports LoRA adapters with llama.cpp's shapes (a: [in, r], b: [r, out]) and permutes B of q/k only", () => {
    const p = ensureSynthetic(path.join(dir, "a"), TINY, SPECS);
    const file = path.join(dir, "all.gguf");
    exportAdapterGguf(p.adapters.get("all")!, p.base, file);
    const g = readGguf(file);
    expect(g.kv.get("general.type")).toBe("adapter");
    expect(g.kv.get("adapter.type")).toBe("lora");
    expect(g.kv.get("adapter.lora.alpha")).toBe(4);
    expect(g.tensors).toHaveLength(2 * 7 * TINY.layers);
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get("blk.0.attn_k.weight.lora_a")!.ne).toEqual([64, 2]);
    expect(byName.get("blk.0.attn_k.weight.lora_b")!.ne).toEqual([2, 32]);
    expect(byName.get("blk.1.ffn_down.weight.lora_a")!.ne).toEqual([96, 2]);
    const st = path.join(p.adapters.get("all")!, "adapter_model.safetensors");
    const h = readSafetensorsHeader(st);
    const hf = (n: string) => readSafetensorsTensor(st, h.get(`base_model.model.model.layers.0.${n}.weight`)!);
    expect(readGgufTensor(file, g, "blk.0.attn_q.weight.lora_a")).toEqual(hf("self_attn.q_proj.lora_A"));
    expect(readGgufTensor(file, g, "blk.0.attn_q.weight.lora_b")).toEqual(permuteRope(hf("self_attn.q_proj.lora_B"), 4, 2));
    expect(readGgufTensor(file, g, "blk.0.attn_k.weight.lora_b")).toEqual(permuteRope(hf("self_attn.k_proj.lora_B"), 2, 2));
    expect(readGgufTensor(file, g, "blk.0.attn_v.weight.lora_b")).toEqual(hf("self_attn.v_proj.lora_B"));
  });

  it("permuteRope makes GGML's interleaved RoPE on permuted rows equal HF's rotate_half RoPE", () => {
    const heads = 3, hd = 8, cols = 5, half = hd / 2, pos = 7;
    const w = randomNormal("perm", heads * hd * cols, 1);
    const x = randomNormal("x", cols, 1);
    const mv = (m: Float32Array) => Array.from({ length: heads * hd }, (_, r) => x.reduce((a, xv, c) => a + xv * m[r * cols + c], 0));
    const theta = (i: number) => pos * Math.pow(10000, (-2 * i) / hd);
    const hfQ = mv(w), gQ = mv(permuteRope(w, heads, cols));
    const hfRot = [...hfQ], gRot = [...gQ];
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const c = Math.cos(theta(i)), s = Math.sin(theta(i));
        const a = hfQ[h * hd + i], b = hfQ[h * hd + i + half]; // rotate_half pairs (i, i + half)
        hfRot[h * hd + i] = a * c - b * s; hfRot[h * hd + i + half] = b * c + a * s;
        const ga = gQ[h * hd + 2 * i], gb = gQ[h * hd + 2 * i + 1]; // GGML normal RoPE pairs (2i, 2i + 1)
        gRot[h * hd + 2 * i] = ga * c - gb * s; gRot[h * hd + 2 * i + 1] = gb * c + ga * s;
      }
    }
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        for (let j = 0; j < 2; j++) expect(gRot[h * hd + 2 * i + j]).toBeCloseTo(hfRot[h * hd + j * half + i], 5);
      }
    }
  });
});
