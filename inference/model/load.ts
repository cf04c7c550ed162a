import type { Backend } from "../kernels/backend";
import type { HostWeight } from "../kernels/tensor";
import { readModelConfig } from "./config";
import { Model, uploadModelWeights } from "./model";
import { readModelWeights } from "./weights";

/** Loads a Hugging Face Llama/Mistral model directory onto the given backend (weights uploaded once). */
export async function loadModel<F = Float32Array, I = Int32Array, W = HostWeight>(dir: string, opts: { backend: Backend<F, I, W> }): Promise<Model<F, I, W>> {
  const config = await readModelConfig(dir);
  const weights = await readModelWeights(dir, config);
  return new Model(config, uploadModelWeights(opts.backend, weights), opts.backend);
}
