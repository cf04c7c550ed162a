/**
 * PEFT rules beyond the config switches: tensors that are missing or mis-shaped, half-precision
 * adapter weights, `.default.` key names, exclude_modules, rank_pattern, and that a refused
 * adapter leaves the process able to load the next one.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPeftAdapter, readAdapterMeta } from "../../inference/adapters/peft";
import { readModelConfig, type ModelConfig } from "../../inference/model/config";
import { readSafetensorsHeader, SafetensorsReader } from "../../inference/model/safetensors";
import { AdapterError } from "../../inference/errors";

const ROOT = path.resolve(import.meta.dirname, "../..");
const FIX = path.join(ROOT, "tests/data/fixtures/tiny-llama");
const tmp = mkdtempSync(path.join(os.tmpdir(), "peft-rules-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let base: ModelConfig;
beforeAll(async () => { base = await readModelConfig(path.join(FIX, "base")); });

interface Tensor { dtype: "F32" | "F16" | "BF16"; shape: number[]; data: Buffer }
let n = 0;

/** the fixture adapter's tensors, as fp32 buffers */
async function tensorsOf(name: string): Promise<Map<string, Tensor>> {
  const file = path.join(FIX, "adapters", name, "adapter_model.safetensors");
  const header = await readSafetensorsHeader(file);
  const r = await SafetensorsReader.open(file);
  const out = new Map<string, Tensor>();
  for (const key of header.tensors.keys()) {
    const t = await r.readFloat32(key);
    out.set(key, { dtype: "F32", shape: t.shape, data: Buffer.from(t.data.buffer) });
  }
  await r.close();
  return out;
}

function writeSafetensors(file: string, tensors: Map<string, Tensor>): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  for (const [k, t] of tensors) {
    header[k] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    off += t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, ...[...tensors.values()].map((t) => t.data)]));
}

/** a copy of fixture adapter `name` whose tensors went through `edit` (and config through `editConfig`) */
async function variant(name: string, edit: (t: Map<string, Tensor>) => Map<string, Tensor> | void,
  editConfig?: (c: Record<string, unknown>) => void): Promise<string> {
  const dir = path.join(tmp, `v${n++}`);
  cpSync(path.join(FIX, "adapters", name), dir, { recursive: true });
  const t = await tensorsOf(name);
  writeSafetensors(path.join(dir, "adapter_model.safetensors"), edit(t) ?? t);
  if (editConfig) {
    const file = path.join(dir, "adapter_config.json");
    const c = JSON.parse(readFileSync(file, "utf8"));
    editConfig(c);
    writeFileSync(file, JSON.stringify(c));
  }
  return dir;
}

const Q1 = "base_model.model.model.layers.1.self_attn.q_proj";

async function refusal(dir: string): Promise<AdapterError> {
  const err = await loadPeftAdapter(dir, "bad", base).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AdapterError);
  expect((err as AdapterError).field).toBeTruthy();
  return err as AdapterError;
}

describe("PEFT adapter rules", () => {
  it("refuses a targeted module whose tensors are all missing", async () => {
    const dir = await variant("qv-r8", (t) => { t.delete(`${Q1}.lora_A.weight`); t.delete(`${Q1}.lora_B.weight`); });
    const err = await refusal(dir);
    expect(err.message).toMatch(/model\.layers\.1\.self_attn\.q_proj is in target_modules but its lora_A\/lora_B tensors are missing/);
    // with layers_to_transform 0 only layer 0 is targeted, so a file with layer 0 alone is complete
    const ok = await variant("qv-r8", (t) => new Map([...t].filter(([k]) => k.includes("layers.0."))), (c) => { c.layers_to_transform = 0; });
    const w = await loadPeftAdapter(ok, "layer0", base);
    expect(w.layers[0].q_proj).toBeDefined();
    expect(w.layers[1]).toEqual({});
  });

  it("refuses a missing lora_B", async () => {
    const dir = await variant("qv-r8", (t) => { t.delete(`${Q1}.lora_B.weight`); });
    expect((await refusal(dir)).message).toMatch(/q_proj: lora_B weight is missing/);
  });

  it("refuses a B matrix whose out-features do not match the base projection", async () => {
    const dir = await variant("qv-r8", (t) => {
      const b = t.get(`${Q1}.lora_B.weight`)!; // (64, 8) -> (32, 8)
      t.set(`${Q1}.lora_B.weight`, { ...b, shape: [32, 8], data: b.data.subarray(0, 32 * 8 * 4) });
    });
    const err = await refusal(dir);
    expect(err.field).toBe("shape");
    expect(err.message).toMatch(/lora_B has shape \[32,8\] but the base model needs \[64, 8\]/);
  });

  it("refuses LoRA weights for a module it cannot serve (lm_head)", async () => {
    const dir = await variant("qv-r8", (t) => {
      t.set("base_model.model.lm_head.lora_A.weight", { dtype: "F32", shape: [8, 64], data: Buffer.alloc(8 * 64 * 4) });
    });
    expect((await refusal(dir)).message).toMatch(/lm_head\.lora_A\.weight" is not a LoRA A\/B weight/);
  });

  it.each([
    ["lora_bias", (c: Record<string, unknown>) => { c.lora_bias = true; }],
    ["fan_in_fan_out", (c: Record<string, unknown>) => { c.fan_in_fan_out = true; }],
    ["alora_invocation_tokens", (c: Record<string, unknown>) => { c.alora_invocation_tokens = [5, 6]; }],
    ["use_qalora", (c: Record<string, unknown>) => { c.use_qalora = true; }],
  ])("refuses %s naming the field", async (field, edit) => {
    const dir = await variant("qv-r8", () => undefined, edit);
    const err = await refusal(dir);
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
  });

  it("reads F16 and BF16 adapter weights and `.default.` key names", async () => {
    const ref = await loadPeftAdapter(path.join(FIX, "adapters/qv-r8"), "ref", base);
    const toHalf = (dtype: "BF16" | "F16") => (t: Map<string, Tensor>) => new Map([...t].map(([k, v]) => {
      const f = new Float32Array(v.data.buffer, v.data.byteOffset, v.data.length / 4);
      const h = new Uint16Array(f.length);
      if (dtype === "BF16") { const u = new Uint32Array(f.buffer, f.byteOffset, f.length); for (let i = 0; i < f.length; i++) h[i] = u[i] >>> 16; }
      else for (let i = 0; i < f.length; i++) h[i] = f16Bits(f[i]);
      return [k.replace(".weight", ".default.weight"), { dtype, shape: v.shape, data: Buffer.from(h.buffer) }];
    }));
    for (const dtype of ["BF16", "F16"] as const) {
      const w = await loadPeftAdapter(await variant("qv-r8", toHalf(dtype)), dtype, base);
      const a = w.layers[1].v_proj!.a, b = ref.layers[1].v_proj!.a;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
      expect(worst).toBeGreaterThan(0); // really converted, not the fp32 file
      expect(worst).toBeLessThan(dtype === "BF16" ? 2 ** -7 : 2 ** -10);
      expect(w.bytes).toBe(ref.bytes); // fp32 once loaded
    }
  });

  it("applies exclude_modules and rank_pattern like PEFT", async () => {
    // exclude layer 1's q_proj: its tensors must then not be in the file
    const dir = await variant("qv-r8", (t) => { t.delete(`${Q1}.lora_A.weight`); t.delete(`${Q1}.lora_B.weight`); },
      (c) => { c.exclude_modules = ["layers.1.self_attn.q_proj"]; });
    const w = await loadPeftAdapter(dir, "excl", base);
    expect(w.layers[1].q_proj).toBeUndefined();
    expect(w.layers[1].v_proj).toBeDefined();
    // with it excluded but present, the file disagrees with the config
    const both = await variant("qv-r8", () => undefined, (c) => { c.exclude_modules = ".*layers\\.1\\.self_attn\\.q_proj"; });
    expect((await refusal(both)).field).toBe("target_modules");
    // rank_pattern: rank 8 stays the tensors' rank, so a pattern naming 4 is a shape mismatch for that module only
    const rp = await variant("qv-r8", () => undefined, (c) => { c.rank_pattern = { "q_proj|v_proj": 4 }; });
    expect((await refusal(rp)).message).toMatch(/model\.layers\.0\.self_attn\.(q|v)_proj: lora_A has shape \[8,64\] but the base model needs \[4, 64\]/);
    const ap = await variant("qv-r8", () => undefined, (c) => { c.alpha_pattern = { "v_proj": 4 }; });
    const aw = await loadPeftAdapter(ap, "alpha", base);
    expect(aw.layers[0].v_proj!.scale).toBe(0.5);
    expect(aw.layers[0].q_proj!.scale).toBe(2);
  });

  it("a refused adapter leaves the process able to load others, and the base model name is reported", async () => {
    const broken = await variant("qv-r8", (t) => { t.delete(`${Q1}.lora_B.weight`); });
    await refusal(broken);
    const meta = await readAdapterMeta(path.join(FIX, "adapters/all-r16"), "all", base);
    expect(meta.targetModules).toHaveLength(7);
    expect(meta.baseModel).toBe("tiny-llama/base");
    const w = await loadPeftAdapter(path.join(FIX, "adapters/all-r16"), "all", base);
    expect(w.rank).toBe(16);
    expect(w.bytes).toBe(meta.bytes);
  });
});

/** fp32 -> f16 bits, round to nearest even (normal range only, enough for LoRA weights) */
function f16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero
  let h = (exp << 10) | (mant >>> 13);
  mant &= 0x1fff;
  if (mant > 0x1000 || (mant === 0x1000 && (h & 1))) h++;
  return sign | h;
}
