import type { Backend } from "../kernels/backend";
import { readModelConfig } from "./config";
import { Model } from "./model";
import { readModelWeights } from "./weights";

/** Loads a Hugging Face Llama/Mistral model directory into fp32 weights on the given backend. */
export async function loadModel(dir: string, opts: { backend: Backend }): Promise<Model> {
  const config = await readModelConfig(dir);
  const weights = await readModelWeights(dir, config);
  return new Model(config, weights, opts.backend);
}
