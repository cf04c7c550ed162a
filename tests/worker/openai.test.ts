/**
 * OpenAI protocol against the real worker, through the official `openai` SDK: completions and
 * chat, streaming and not. Chat runs on a temp copy of tiny-mistral whose tokenizer_config.json
 * gets Mistral's [INST] template; the original (no template) answers 422.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, postJson, startWorker, type Worker } from "./worker-helpers";

const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

const fx = path.join(FIXTURES, "tiny-mistral");
const expected = JSON.parse(fs.readFileSync(path.join(fx, "expected.json"), "utf8"));
const prompt: string = expected.prompts[0].text;

let tmp: string;
let w: Worker;
let plainWorker: Worker;
let client: OpenAI;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "worker-openai-"));
  const base = path.join(tmp, "mistral-chat");
  fs.cpSync(path.join(fx, "base"), base, { recursive: true });
  const cfgPath = path.join(base, "tokenizer_config.json");
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
  cfg.chat_template = MISTRAL_TEMPLATE;
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  [w, plainWorker] = await Promise.all([
    startWorker(["--model", base, "--adapters", path.join(fx, "adapters")]),
    startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--model-id", "tiny-mistral"]),
  ]);
  client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await Promise.all([w?.stop(), plainWorker?.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("/v1/models", () => {
  it("lists the base model (the folder name) and every adapter with the base as parent", async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids[0]).toBe("mistral-chat");
    expect(ids.slice(1).sort()).toEqual(["all-r16", "attn-r2", "mlp-r4-rs", "qv-r8"]);
    expect((models.data[1] as unknown as { parent: string }).parent).toBe("mistral-chat");
  });
});

describe("/v1/completions", () => {
  it("greedy completion text equals LoRAX generated_text; ids equal the reference; usage counts", async () => {
    for (const model of ["qv-r8", "mistral-chat", ""]) {
      const adapter = model && model !== "mistral-chat" ? model : null;
      const c = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, ignore_eos: true, logprobs: 0 } as OpenAI.CompletionCreateParamsNonStreaming);
      const lorax = await postJson(`${w.url}/generate`, { inputs: prompt, parameters: { adapter_id: adapter ?? undefined, max_new_tokens: 12, ignore_eos_token: true, details: true } });
      expect(c.choices[0].text).toBe(lorax.body.generated_text);
      expect(lorax.body.details.tokens.map((t: { id: number }) => t.id)).toEqual(expected.runs[adapter ?? "__base__"][0].greedy);
      expect(c.usage).toEqual({ prompt_tokens: expected.prompts[0].ids.length, completion_tokens: 12, total_tokens: expected.prompts[0].ids.length + 12 });
      expect(c.choices[0].finish_reason).toBe("length");
      expect(c.choices[0].logprobs!.tokens!.join("")).toBe(c.choices[0].text);
    }
  });

  it("streaming chunks concatenate to the non-streamed text; usage chunk and [DONE] close it", async () => {
    const body = { model: "all-r16", prompt, max_tokens: 16, temperature: 0 };
    const whole = await client.completions.create(body);
    const stream = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.choices[0]) {
        text += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(whole.choices[0].text);
    expect(finish).toBe(whole.choices[0].finish_reason);
    expect(usage).toEqual(whole.usage);
    const raw = await (await fetch(`${w.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream: true }) })).text();
    expect(raw.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  it("errors use OpenAI's shape: unknown model 404, bad field 422 with param", async () => {
    await expect(client.completions.create({ model: "missing", prompt: "hi", max_tokens: 2 })).rejects.toMatchObject({ status: 404, code: "adapter_not_found", param: "model" });
    await expect(client.completions.create({ model: "", prompt: "hi", max_tokens: 2, temperature: 5 })).rejects.toMatchObject({ status: 422, param: "temperature", type: "invalid_request_error" });
    await expect(client.completions.create({ model: "", prompt: "hi", max_tokens: 5000 })).rejects.toMatchObject({ status: 422, param: "max_tokens" });
  });
});

describe("/v1/chat/completions", () => {
  const messages = [{ role: "user" as const, content: "Hello there" }];

  it("renders the [INST] template: the answer equals LoRAX on the rendered prompt", async () => {
    const c = await client.chat.completions.create({ model: "qv-r8", messages, max_tokens: 10, temperature: 0 });
    const lorax = await postJson(`${w.url}/generate`, { inputs: "[INST] Hello there [/INST]", parameters: { adapter_id: "qv-r8", max_new_tokens: 10, details: true } });
    expect(c.choices[0].message).toMatchObject({ role: "assistant", content: lorax.body.generated_text });
    expect(c.usage!.prompt_tokens).toBe(lorax.body.details.prompt_tokens);
    expect(c.choices[0].finish_reason).toBe(lorax.body.details.finish_reason === "length" ? "length" : "stop");
  });

  it("streams deltas that concatenate to the non-streamed message, with logprobs", async () => {
    const body = { model: "mlp-r4-rs", messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2 };
    const whole = await client.chat.completions.create(body);
    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let role: string | undefined;
    let lpTokens = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      if (ch) {
        role ??= ch.delta.role;
        text += ch.delta.content ?? "";
        for (const lp of ch.logprobs?.content ?? []) {
          lpTokens += lp.token;
          expect(lp.top_logprobs).toHaveLength(2);
        }
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(role).toBe("assistant");
    expect(text).toBe(whole.choices[0].message.content);
    expect(lpTokens).toBe(text);
    expect(usage).toEqual(whole.usage);
  });

  it("a template that refuses the messages, and a model without a template, answer 422", async () => {
    await expect(client.chat.completions.create({ model: "", messages: [{ role: "assistant", content: "x" }], max_tokens: 2 })).rejects.toMatchObject({ status: 422, param: "messages", code: "chat_template_error" });
    const plain = new OpenAI({ baseURL: `${plainWorker.url}/v1`, apiKey: "unused", maxRetries: 0 });
    await expect(plain.chat.completions.create({ model: "qv-r8", messages, max_tokens: 2 })).rejects.toMatchObject({ status: 422, param: "messages", code: "chat_template_missing" });
  });
});
