/**
 * "Use via API": ready-to-run snippets for the current adapter, prompt and parameters against the
 * worker itself (LoRAX `/generate` with curl, the OpenAI SDK on `/v1/completions`), or, when the
 * worker has no public address, through this site's keyed `/api/v1` proxy (OpenAI routes only).
 */
import type { GenerationParams } from "../../db/schema/chats";

/** POSIX shell single-quoting: safe for any prompt text */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function loraxParameters(adapterId: string | null, p: GenerationParams) {
  const greedy = !p.temperature;
  return {
    ...(adapterId ? { adapter_id: adapterId } : {}),
    max_new_tokens: p.max_new_tokens,
    ...(greedy ? {} : { do_sample: true, temperature: p.temperature }),
    ...(p.top_p !== undefined && p.top_p < 1 ? { top_p: p.top_p } : {}),
    ...(p.top_k ? { top_k: p.top_k } : {}),
    ...(p.repetition_penalty !== undefined && p.repetition_penalty !== 1 ? { repetition_penalty: p.repetition_penalty } : {}),
    ...(p.stop?.length ? { stop: p.stop } : {}),
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
    ...(p.ignore_eos ? { ignore_eos_token: true } : {}),
    ...(p.response_format ? { response_format: p.response_format } : {}),
  };
}

export function curlSnippet(workerUrl: string, adapterId: string | null, prompt: string, p: GenerationParams): string {
  const body = JSON.stringify({ inputs: prompt, parameters: loraxParameters(adapterId, p) }, null, 2);
  return `curl ${workerUrl}/generate \\\n  -H 'Content-Type: application/json' \\\n  -d ${shellQuote(body)}`;
}

/** curl on the site's `/api/v1/completions` proxy, with the admin token from the environment. */
export function proxyCurlSnippet(apiBase: string, model: string, prompt: string, p: GenerationParams): string {
  const body = JSON.stringify(openaiBody(model, prompt, p), null, 2);
  return `curl ${apiBase}/completions \\\n  -H 'Content-Type: application/json' \\\n  -H "Authorization: Bearer $ADMIN_TOKEN" \\\n  -d ${shellQuote(body)}`;
}

function openaiBody(model: string, prompt: string, p: GenerationParams) {
  return {
    model,
    prompt,
    max_tokens: p.max_new_tokens,
    temperature: p.temperature ?? 0,
    ...(p.top_p !== undefined && p.top_p < 1 ? { top_p: p.top_p } : {}),
    ...(p.stop?.length ? { stop: p.stop } : {}),
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
  };
}

/** `viaSite`: `workerUrl` is the site's `/api` (its `/v1` proxy), keyed by the admin token */
export function openaiSnippet(workerUrl: string, model: string, prompt: string, p: GenerationParams, viaSite = false): string {
  const args = [
    `  model: ${JSON.stringify(model)},`,
    `  prompt: ${JSON.stringify(prompt)},`,
    `  max_tokens: ${p.max_new_tokens},`,
    `  temperature: ${p.temperature ?? 0},`,
    ...(p.top_p !== undefined && p.top_p < 1 ? [`  top_p: ${p.top_p},`] : []),
    ...(p.stop?.length ? [`  stop: ${JSON.stringify(p.stop)},`] : []),
    ...(p.seed !== undefined ? [`  seed: ${p.seed},`] : []),
    `  stream: true,`,
  ];
  return [
    `import OpenAI from "openai";`,
    ``,
    `const client = new OpenAI({ baseURL: ${JSON.stringify(`${workerUrl}/v1`)}, apiKey: ${viaSite ? "process.env.ADMIN_TOKEN" : '"unused"'} });`,
    `const stream = await client.completions.create({`,
    ...args,
    `});`,
    `for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.text ?? "");`,
  ].join("\n");
}
