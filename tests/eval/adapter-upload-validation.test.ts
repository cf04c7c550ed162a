import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkShapes,
  parseAdapterConfig,
  parseSafetensorsHeader,
  UploadError,
  writeAdapterDir,
  type BaseShape,
} from "../../app/api/adapters/peft-upload";

const demoBase = JSON.parse(fs.readFileSync("data/demo/base/config.json", "utf8")) as BaseShape;
const read = (p: string) => new Uint8Array(fs.readFileSync(p));
const sqlConfig = fs.readFileSync("data/demo/adapters/sql/adapter_config.json", "utf8");
const sqlWeights = read("data/demo/adapters/sql/adapter_model.safetensors");

function rejects(fn: () => unknown, pattern: RegExp) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UploadError);
    expect((err as UploadError).status).toBe(422);
    expect((err as Error).message).toMatch(pattern);
    return;
  }
  throw new Error("expected a rejection");
}

/** A safetensors file from a header object and a data length. */
function safetensors(header: Record<string, unknown>, dataBytes: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe("adapter_config.json", () => {
  it("accepts the bundled PEFT config", () => {
    expect(parseAdapterConfig(sqlConfig)).toMatchObject({ r: 16, loraAlpha: 32 });
  });
  it("names what is wrong", () => {
    rejects(() => parseAdapterConfig("{not json"), /adapter_config\.json is not valid JSON/);
    rejects(() => parseAdapterConfig("[]"), /must be a JSON object/);
    rejects(() => parseAdapterConfig(JSON.stringify({ ...JSON.parse(sqlConfig), peft_type: "IA3" })), /peft_type must be "LORA"/);
    rejects(() => parseAdapterConfig(JSON.stringify({ ...JSON.parse(sqlConfig), r: 0 })), /r must be an integer/);
    rejects(() => parseAdapterConfig(JSON.stringify({ ...JSON.parse(sqlConfig), lora_alpha: "32" })), /lora_alpha must be a number/);
    rejects(() => parseAdapterConfig(JSON.stringify({ ...JSON.parse(sqlConfig), target_modules: [] })), /target_modules/);
    rejects(() => parseAdapterConfig(JSON.stringify({ ...JSON.parse(sqlConfig), use_dora: true })), /use_dora/);
  });
});

describe("safetensors header and shapes", () => {
  it("accepts a bundled adapter against the demo base: 42 A/B pairs (6 layers x 7 projections)", () => {
    const tensors = parseSafetensorsHeader(sqlWeights);
    expect(tensors.size).toBe(84);
    expect(checkShapes(tensors, parseAdapterConfig(sqlConfig), demoBase)).toEqual({ pairs: 42 });
  });
  it("rejects truncated files", () => {
    rejects(() => parseSafetensorsHeader(sqlWeights.subarray(0, 5)), /truncated/);
    rejects(() => parseSafetensorsHeader(sqlWeights.subarray(0, 200)), /header length \d+ does not fit/);
    rejects(() => parseSafetensorsHeader(sqlWeights.subarray(0, sqlWeights.length - 100)), /truncated file/);
  });
  it("rejects a header that is not JSON, bad dtypes, and offsets that do not match the shape or overlap", () => {
    const junk = new Uint8Array(64);
    new DataView(junk.buffer).setBigUint64(0, 16n, true);
    junk.set(Buffer.from("this is not json"), 8);
    rejects(() => parseSafetensorsHeader(junk), /not valid JSON/);
    const k = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    rejects(() => parseSafetensorsHeader(safetensors({ [k]: { dtype: "F99", shape: [1], data_offsets: [0, 4] } }, 4)), /unknown dtype/);
    rejects(() => parseSafetensorsHeader(safetensors({ [k]: { dtype: "F32", shape: [2, 2], data_offsets: [0, 8] } }, 16)), /holds 8 bytes, its shape and dtype need 16/);
    rejects(
      () => parseSafetensorsHeader(safetensors({ [k]: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 12)),
      /overlap/,
    );
  });
  it("rejects an adapter of another base model (tiny-llama fixture) with the expected and found shapes", () => {
    const dir = "tests/data/fixtures/tiny-llama/adapters/all-r16";
    const tensors = parseSafetensorsHeader(read(`${dir}/adapter_model.safetensors`));
    rejects(() => checkShapes(tensors, parseAdapterConfig(fs.readFileSync(`${dir}/adapter_config.json`, "utf8")), demoBase), /has lora_A \[16,172\] and lora_B \[64,16\]; the base model needs \[r, 768\] and \[256, r\]/);
  });
  it("rejects tensors that are not LoRA weights, unpaired A/B, layers beyond the base, and a rank that contradicts r", () => {
    const cfg = parseAdapterConfig(sqlConfig);
    const one = (name: string, shape: number[]) => parseSafetensorsHeader(safetensors({ [name]: { dtype: "F32", shape, data_offsets: [0, shape.reduce((a, b) => a * b, 1) * 4] } }, shape.reduce((a, b) => a * b, 1) * 4));
    rejects(() => checkShapes(one("base_model.model.lm_head.weight", [4, 4]), cfg, demoBase), /unexpected tensor/);
    rejects(() => checkShapes(one("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [16, 256]), cfg, demoBase), /lora_A without lora_B/);
    rejects(() => checkShapes(one("base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight", [16, 256]), cfg, demoBase), /layer 9; the base model has 6 layers/);
    const tensors = parseSafetensorsHeader(sqlWeights);
    rejects(() => checkShapes(tensors, { ...cfg, r: 8 }, demoBase), /rank 16; adapter_config\.json says r=8/);
  });
});

describe("atomic placement", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "upload-"));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it("writes both files under <root>/<id>, refuses an existing id, and leaves no temp dirs", async () => {
    const dir = await writeAdapterDir(root, "my-sql", { config: new TextEncoder().encode(sqlConfig), weights: sqlWeights });
    expect(dir).toBe(path.join(root, "my-sql"));
    expect(fs.readdirSync(dir).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    expect(Buffer.compare(fs.readFileSync(path.join(dir, "adapter_model.safetensors")), Buffer.from(sqlWeights))).toBe(0);
    await expect(writeAdapterDir(root, "my-sql", { config: new Uint8Array(1), weights: new Uint8Array(1) })).rejects.toMatchObject({ status: 409 });
    expect(fs.readdirSync(root)).toEqual(["my-sql"]);
  });
});
