/** The seven Llama/Mistral projections a LoRA adapter may target. */
export const PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** One adapted projection of one layer: delta(x) = scale · (x · Aᵀ) · Bᵀ */
export interface LoraPair {
  /** (r, in) */
  a: Float32Array;
  /** (out, r) */
  b: Float32Array;
  r: number;
  /** lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (per-module patterns applied) */
  scale: number;
}

/** A validated adapter converted to fp32, ready for the forward pass. */
export interface LoraWeights {
  id: string;
  /** layers[l][projection] is undefined when that projection of layer l is not adapted */
  layers: Partial<Record<Projection, LoraPair>>[];
  /** bytes held by the fp32 tensors */
  bytes: number;
  rank: number;
  targetModules: Projection[];
}
