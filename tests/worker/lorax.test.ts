/**
 * LoRAX / TGI protocol against the real worker on the tiny-llama fixture: greedy ids equal the
 * transformers+PEFT references, the SSE stream read by eventsource-parser (as LoRAX clients read
 * it) matches the non-streamed answer, concurrent streams on different adapters equal the lone
 * runs, validation names the field, and /info, /tokenize, /metrics answer.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, metric, postJson, sse, startWorker, type Worker } from "./worker-helpers";

const fx = path.join(FIXTURES, "tiny-llama");
const expected = JSON.parse(fs.readFileSync(path.join(fx, "expected.json"), "utf8"));
const prompts: { text: string; ids: number[] }[] = expected.prompts;
const greedy = (adapter: string, i: number): number[] => expected.runs[adapter][i].greedy;

let w: Worker;
beforeAll(async () => {
  w = await startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--model-id", "tiny-llama", "--max-new-tokens", "64"]);
});
afterAll(async () => {
  await w?.stop();
});

const req = (adapter: string | null, i: number, extra: Record<string, unknown> = {}) => ({
  inputs: prompts[i].text,
  parameters: { adapter_id: adapter ?? undefined, max_new_tokens: 12, ignore_eos_token: true, details: true, ...extra },
});

describe("POST /generate", () => {
  it("greedy ids equal the reference for the base model and each adapter", async () => {
    for (const adapter of [null, "tiny-llama", "qv-r8", "all-r16", "mlp-r4-rs", "attn-r2"]) {
      const r = await postJson(`${w.url}/generate`, req(adapter, 0));
      if (adapter === "tiny-llama") {
        // the base model's own id means no adapter
        expect(r.body.details.tokens.map((t: { id: number }) => t.id)).toEqual(greedy("__base__", 0));
        continue;
      }
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.details.tokens.map((t: { id: number }) => t.id)).toEqual(greedy(adapter ?? "__base__", 0));
      expect(r.body.details.finish_reason).toBe("length");
      expect(r.body.details.prompt_tokens).toBe(prompts[0].ids.length);
      expect(r.body.details.generated_tokens).toBe(12);
      expect(r.headers.get("x-model-id")).toBe("tiny-llama");
      expect(r.headers.get("x-adapter-id")).toBe(adapter ?? "");
    }
  });

  it("details off gives only generated_text; return_full_text prepends the prompt; prefill lists the prompt ids", async () => {
    const plain = await postJson(`${w.url}/generate`, { inputs: prompts[1].text, parameters: { max_new_tokens: 5, ignore_eos_token: true } });
    expect(Object.keys(plain.body)).toEqual(["generated_text"]);
    const full = await postJson(`${w.url}/generate`, req(null, 1, { max_new_tokens: 5, return_full_text: true, decoder_input_details: true }));
    expect(full.body.generated_text).toBe(prompts[1].text + plain.body.generated_text);
    expect(full.body.details.prefill.map((t: { id: number }) => t.id)).toEqual(prompts[1].ids);
  });

  it("return_k_alternatives gives k alternatives per token, the greedy pick first with its own logprob", async () => {
    const r = await postJson(`${w.url}/generate`, req("qv-r8", 0, { max_new_tokens: 4, return_k_alternatives: 3 }));
    for (const t of r.body.details.tokens) {
      expect(t.alternative_tokens).toHaveLength(3);
      expect(t.alternative_tokens[0].id).toBe(t.id);
      expect(t.alternative_tokens[0].logprob).toBeCloseTo(t.logprob, 6);
      expect(t.alternative_tokens[1].logprob).toBeLessThanOrEqual(t.alternative_tokens[0].logprob);
    }
  });

  it("a seed makes sampling reproducible", async () => {
    const body = req("all-r16", 2, { do_sample: true, temperature: 1.3, top_p: 0.95, seed: 1234, max_new_tokens: 10 });
    const a = await postJson(`${w.url}/generate`, body);
    const b = await postJson(`${w.url}/generate`, body);
    expect(a.body.details.seed).toBe(1234);
    expect(a.body.details.tokens.map((t: { id: number }) => t.id)).toEqual(b.body.details.tokens.map((t: { id: number }) => t.id));
  });
});

describe("POST /generate_stream", () => {
  it("streamed tokens = the non-streamed answer; non-special texts concatenate to generated_text", async () => {
    for (const [adapter, i] of [["qv-r8", 0], [null, 2], ["all-r16", 1]] as const) {
      const body = req(adapter, i, { max_new_tokens: 20, ignore_eos_token: false });
      const s = await sse(`${w.url}/generate_stream`, body);
      expect(s.status).toBe(200);
      const last = s.events.at(-1);
      expect(s.events.slice(0, -1).every((e) => e.generated_text === null && e.details === null && e.token)).toBe(true);
      expect(last.token).toBeTruthy(); // the last event carries the last token too
      const ids = s.events.map((e) => e.token.id);
      const text = s.events.filter((e) => !e.token.special).map((e) => e.token.text).join("");
      expect(text).toBe(last.generated_text);
      expect(last.details.tokens.map((t: { id: number }) => t.id)).toEqual(ids);
      expect(last.details.generated_tokens).toBe(ids.length);
      const plain = await postJson(`${w.url}/generate`, body);
      expect(plain.body.generated_text).toBe(last.generated_text);
      expect(plain.body.details.tokens.map((t: { id: number }) => t.id)).toEqual(ids);
    }
  });

  it("a stop sequence ends the stream with stop_sequence and stays at the end of generated_text (LoRAX/TGI); OpenAI's text ends before it", async () => {
    const full = await postJson(`${w.url}/generate`, req("all-r16", 1, { max_new_tokens: 30 }));
    const text: string = full.body.generated_text;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    expect(stop.length).toBe(3);
    const s = await sse(`${w.url}/generate_stream`, req("all-r16", 1, { max_new_tokens: 30, stop: [stop] }));
    const last = s.events.at(-1);
    expect(last.details.finish_reason).toBe("stop_sequence");
    expect(text.startsWith(last.generated_text)).toBe(true);
    expect(last.generated_text.length).toBeLessThan(text.length);
    // the token that completed the stop sequence is the last one, with its own text
    const at = last.generated_text.indexOf(stop);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(last.generated_text.length - (at + stop.length)).toBeLessThan(last.token.text.length);
    expect(s.events.filter((e) => !e.token.special).map((e) => e.token.text).join("")).toBe(last.generated_text);
    const oa = await postJson(`${w.url}/v1/completions`, { model: "all-r16", prompt: prompts[1].text, max_tokens: 30, temperature: 0, ignore_eos: true, stop });
    expect([oa.body.choices[0].text, oa.body.choices[0].finish_reason]).toEqual([last.generated_text.slice(0, at), "stop"]);
  });

  it("POST / dispatches on `stream`; not streamed it answers a one-element array", async () => {
    const s = await sse(`${w.url}/`, { ...req("attn-r2", 0), stream: true });
    expect(s.events.map((e) => e.token.id)).toEqual(greedy("attn-r2", 0));
    const plain = await postJson(`${w.url}/`, { ...req("attn-r2", 0), stream: false });
    expect(plain.body).toHaveLength(1);
    expect(plain.body[0].details.tokens.map((t: { id: number }) => t.id)).toEqual(greedy("attn-r2", 0));
  });

  it("concurrent streams on different adapters give the same greedy tokens as alone", async () => {
    const jobs = [["qv-r8", 0], ["all-r16", 1], [null, 2], ["mlp-r4-rs", 0], ["attn-r2", 1], ["qv-r8", 2]] as const;
    const results = await Promise.all(jobs.map(([a, i]) => sse(`${w.url}/generate_stream`, req(a, i))));
    results.forEach((r, k) => {
      const [a, i] = jobs[k];
      expect(r.events.map((e) => e.token.id)).toEqual(greedy(a ?? "__base__", i));
    });
  });
});

describe("validation and errors", () => {
  const cases: [string, unknown, number, string][] = [
    ["missing inputs", { parameters: {} }, 422, "inputs"],
    ["empty inputs", { inputs: "" }, 422, "inputs"],
    ["negative temperature", { inputs: "a", parameters: { temperature: -1 } }, 422, "parameters.temperature"],
    ["top_p above 1", { inputs: "a", parameters: { top_p: 1.5 } }, 422, "parameters.top_p"],
    ["top_k not an integer", { inputs: "a", parameters: { top_k: 2.5 } }, 422, "parameters.top_k"],
    ["max_new_tokens 0", { inputs: "a", parameters: { max_new_tokens: 0 } }, 422, "parameters.max_new_tokens"],
    ["max_new_tokens over the limit", { inputs: "a", parameters: { max_new_tokens: 65 } }, 422, "parameters.max_new_tokens"],
    ["stop not a list", { inputs: "a", parameters: { stop: "x" } }, 422, "parameters.stop"],
    ["seed negative", { inputs: "a", parameters: { seed: -3 } }, 422, "parameters.seed"],
    ["unknown adapter_source", { inputs: "a", parameters: { adapter_source: "s3" } }, 422, "parameters.adapter_source"],
    ["prompt longer than the context", { inputs: "word ".repeat(400) }, 422, "inputs"],
    ["unknown adapter", { inputs: "a", parameters: { adapter_id: "nope" } }, 404, "parameters.adapter_id"],
    ["traversal in a local adapter id", { inputs: "a", parameters: { adapter_id: "../base", adapter_source: "local" } }, 422, "parameters.adapter_id"],
  ];
  for (const [name, body, status, field] of cases) {
    it(`${name} -> ${status} naming ${field}`, async () => {
      for (const route of ["/generate", "/generate_stream"]) {
        const r = await postJson(`${w.url}${route}`, body);
        expect(r.status, JSON.stringify(r.body)).toBe(status);
        expect(r.body.field).toBe(field);
        expect(typeof r.body.error).toBe("string");
        expect(r.body.error_type).toBe(status === 404 ? "not_found" : "validation");
      }
    });
  }

  it("bad JSON is 422 naming the body; an oversized body is 413; unknown routes 404", async () => {
    const bad = await postJson(`${w.url}/generate`, "{not json");
    expect([bad.status, bad.body.field]).toEqual([422, "body"]);
    const big = await postJson(`${w.url}/generate`, { inputs: "x".repeat(1_100_000) });
    expect(big.status).toBe(413);
    expect(big.body.error_type).toBe("payload_too_large");
    const none = await fetch(`${w.url}/nothing-here`);
    expect(none.status).toBe(404);
  });
});

describe("info, tokenize, metrics", () => {
  it("/info describes the model and limits", async () => {
    const info = await (await fetch(`${w.url}/info`)).json();
    expect(info).toMatchObject({ model_id: "tiny-llama", state: "ready", architecture: "LlamaForCausalLM", model_dtype: "float32", max_total_tokens: 256, max_new_tokens: 64 });
    expect(info.adapters.total).toBe(4);
  });

  it("/tokenize gives the tokenizer's ids (with BOS) and their texts", async () => {
    const r = await postJson(`${w.url}/tokenize`, { inputs: prompts[0].text });
    expect(r.body.map((t: { id: number }) => t.id)).toEqual(prompts[0].ids);
    expect(r.body[0].special).toBe(true);
    for (const t of expected.tokenizer as { text: string; ids: number[]; decoded: string }[]) {
      const toks = (await postJson(`${w.url}/tokenize`, { inputs: t.text })).body as { id: number; text: string; special: boolean }[];
      expect(toks.map((x) => x.id)).toEqual(t.ids);
      expect(toks.filter((x) => !x.special).map((x) => x.text).join("")).toBe(t.decoded);
    }
  });

  it("/metrics counts requests and tokens in Prometheus text; KV blocks return to 0 when idle", async () => {
    const before = await metric(w.url, "worker_generated_tokens_total");
    await postJson(`${w.url}/generate`, req(null, 0, { max_new_tokens: 7 }));
    expect(await metric(w.url, "worker_generated_tokens_total")).toBe(before + 7);
    expect(await metric(w.url, "worker_kv_blocks_used")).toBe(0);
    expect(await metric(w.url, "worker_time_to_first_token_seconds_count")).toBeGreaterThan(0);
    const text = await (await fetch(`${w.url}/metrics`)).text();
    expect(text).toMatch(/worker_requests_total\{route="\/generate",status="200"\} \d+/);
    expect(text).toMatch(/# TYPE worker_queue_duration_seconds histogram/);
  });
});
