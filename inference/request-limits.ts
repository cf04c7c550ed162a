/**
 * Bounds of a generation request that both sides enforce: the worker's validation
 * (inference/server/validation.ts, /info) and the web app's input schema (server/routers/generate.ts),
 * which checks first so bad input fails there with the field named. One module, so the two cannot
 * drift. Limits a worker is started with (max_new_tokens, prompt bytes) are not here: the web reads
 * them from the worker's /info.
 */
export const REQUEST_LIMITS = {
  /** characters of an adapter id (LoRAX adapter_id, OpenAI model) */
  adapterIdChars: 256,
  /** stop sequences per request, and characters of each */
  stopSequences: 16,
  stopChars: 512,
  /** top alternatives reported per token (return_k_alternatives, top_n_tokens, logprobs, top_logprobs) */
  alternatives: 20,
  topK: 100_000,
  repetitionPenalty: 100,
  /** OpenAI's bound on temperature; LoRAX/TGI requests may go to loraxTemperature */
  temperature: 2,
  loraxTemperature: 100,
  /** seeds are unsigned 32-bit */
  seed: 0xffffffff,
  /** characters of a per-request Hub token (api_token) */
  apiTokenChars: 4096,
} as const;
