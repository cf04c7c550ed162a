import type { Backend } from "../kernels/backend";
import type { HostWeight } from "../kernels/tensor";
import { readModelConfig } from "./config";
import { Model, uploadModelWeights } from "./model";
import { readModelWeights, type ReadWeightsOptions } from "./weights";

/**
 * Loads a Hugging Face Llama/Mistral model directory onto the given backend (weights uploaded
 * once), in the weight format `weights.dtype` asks for (default auto; see ./weights.ts). The
 * model's `weights.load` says which format was chosen and why.
 */
export async function loadModel<F = Float32Array, I = Int32Array, W = HostWeight>(
  dir: string, opts: { backend: Backend<F, I, W>; weights?: ReadWeightsOptions },
): Promise<Model<F, I, W>> {
  const config = await readModelConfig(dir);
  const weights = await readModelWeights(dir, config, { formats: opts.backend.weightFormats, ...opts.weights });
  const uploaded = uploadModelWeights(opts.backend, weights);
  uploaded.load = weights.load;
  return new Model(config, uploaded, opts.backend);
}
