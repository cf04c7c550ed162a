/**
 * Checkpoints under `<output_dir>/checkpoint/`: `state.json` (where the run is, its loss curve,
 * a fingerprint of the config) and `tensors.safetensors` (LoRA A/B and AdamW's moments, in
 * parameter order). Written through temporary files and renames, so a crash mid-write leaves
 * the previous checkpoint whole. Resuming recomputes the data order from the seed.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { readSafetensorsFile, tensorFloat32 } from "../model/safetensors";
import type { LoraParam } from "./lora-model";
import type { AdamW } from "./optim";
import { encodeSafetensors, writeFileAtomic, type NamedTensor } from "./peft-save";

export interface CurvePoint {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  val_loss?: number;
}

export interface CheckpointState {
  version: 1;
  fingerprint: string;
  /** optimizer steps done */
  step: number;
  /** the next micro-batch to run: epoch and index within it */
  epoch: number;
  micro: number;
  tokens: number;
  seconds: number;
  curve: CurvePoint[];
}

export function checkpointDir(outputDir: string): string {
  return path.join(outputDir, "checkpoint");
}

export function saveCheckpoint(outputDir: string, state: CheckpointState, params: LoraParam[], opt: AdamW): void {
  const dir = checkpointDir(outputDir);
  mkdirSync(dir, { recursive: true });
  const tensors: NamedTensor[] = params.flatMap((p, i) => [
    { name: `${i}.a`, shape: [p.a.length], data: p.a },
    { name: `${i}.b`, shape: [p.b.length], data: p.b },
    { name: `${i}.a.m`, shape: [p.a.length], data: opt.m[2 * i] },
    { name: `${i}.a.v`, shape: [p.a.length], data: opt.v[2 * i] },
    { name: `${i}.b.m`, shape: [p.b.length], data: opt.m[2 * i + 1] },
    { name: `${i}.b.v`, shape: [p.b.length], data: opt.v[2 * i + 1] },
  ]);
  writeFileAtomic(path.join(dir, "tensors.safetensors"), encodeSafetensors(tensors));
  // state last: a state.json always describes tensors at least as new as itself
  writeFileAtomic(path.join(dir, "state.json"), JSON.stringify(state));
}

export function readCheckpointState(outputDir: string): CheckpointState | null {
  const file = path.join(checkpointDir(outputDir), "state.json");
  if (!existsSync(file)) return null;
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as CheckpointState;
    return s.version === 1 ? s : null;
  } catch {
    return null;
  }
}

/** Loads the tensors of a checkpoint into params and the optimizer. */
export async function loadCheckpointTensors(outputDir: string, state: CheckpointState, params: LoraParam[], opt: AdamW): Promise<void> {
  const { bytes, header } = await readSafetensorsFile(path.join(checkpointDir(outputDir), "tensors.safetensors"));
  const get = (name: string, n: number) => {
    const t = tensorFloat32(bytes, header, name);
    if (t.length !== n) throw new Error(`checkpoint tensor ${name} has ${t.length} values, expected ${n}`);
    return t;
  };
  params.forEach((p, i) => {
    p.a.set(get(`${i}.a`, p.a.length));
    p.b.set(get(`${i}.b`, p.b.length));
    opt.m[2 * i].set(get(`${i}.a.m`, p.a.length));
    opt.v[2 * i].set(get(`${i}.a.v`, p.a.length));
    opt.m[2 * i + 1].set(get(`${i}.b.m`, p.b.length));
    opt.v[2 * i + 1].set(get(`${i}.b.v`, p.b.length));
  });
  opt.step = state.step;
}

export function removeCheckpoint(outputDir: string): void {
  rmSync(checkpointDir(outputDir), { recursive: true, force: true });
}
