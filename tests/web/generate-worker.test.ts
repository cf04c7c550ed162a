/**
 * The streaming client and the stream hub against the REAL worker (inference/cli serve) on the
 * bundled demo model and on a fixture copy given a chat template: the streamed tokens make
 * exactly the worker's own non-streamed answer, over both protocols; chat mode streams through
 * /v1/chat/completions; aborting cancels; errors keep their status.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countTokens, streamGeneration, WorkerError, type StreamEvent, type WorkerTarget } from "../../server/inference/stream";
import { StreamHub, type RunChunk } from "../../server/inference/stream-hub";
import { realWorkerAvailable } from "../e2e/playground-harness";
import { spawnRealWorker, type RunningWorker } from "./generate-worker-process";

const params = { max_new_tokens: 12, temperature: 0 };

async function collect(it: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

async function generate(url: string, inputs: string, adapterId: string | null, max: number) {
  const res = await fetch(`${url}/generate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ inputs, parameters: { adapter_id: adapterId ?? undefined, max_new_tokens: max, details: true } }),
  });
  return (await res.json()) as { generated_text: string; details: { finish_reason: string; generated_tokens: number; prompt_tokens: number } };
}

if (!realWorkerAvailable()) process.stderr.write("\n!!!!! SKIPPING real-worker stream tests: inference/cli/serve.ts is missing !!!!!\n\n");

describe.runIf(realWorkerAvailable())("streaming from the real worker (demo model)", () => {
  let w: RunningWorker;
  beforeAll(async () => {
    w = await spawnRealWorker(path.resolve("data/demo/base"), path.resolve("data/demo/adapters"));
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
  });

  it("LoRAX SSE: the streamed tokens make exactly the worker's /generate answer", async () => {
    const target: WorkerTarget = { baseUrl: w.url, protocol: "lorax" };
    for (const adapter of ["sql", null]) {
      const prompt = "Question: how many rows have the name Ada?\nSQL:";
      const events = await collect(streamGeneration(target, { prompt, adapterId: adapter, params }));
      expect(events[0]!.type).toBe("accepted");
      const tokens = events.filter((e) => e.type === "token");
      const done = events.at(-1)!;
      expect(done.type).toBe("done");
      if (done.type !== "done") return;
      const ref = await generate(w.url, prompt, adapter, 12);
      expect(tokens.filter((t) => !t.special).map((t) => t.text).join("")).toBe(ref.generated_text);
      expect(done.generatedText).toBe(ref.generated_text);
      expect([done.finishReason, done.generatedTokens, done.promptTokens]).toEqual([ref.details.finish_reason, ref.details.generated_tokens, ref.details.prompt_tokens]);
      expect(tokens.every((t) => t.type === "token" && t.id >= 0 && typeof t.logprob === "number")).toBe(true);
    }
  });

  it("OpenAI completions stream: the same text as LoRAX for the same greedy request", async () => {
    const prompt = "Define the word as a dictionary would.\n\nWord: river (noun)\nDefinition:";
    const lorax = await collect(streamGeneration({ baseUrl: w.url, protocol: "lorax" }, { prompt, adapterId: "wordnet", params }));
    const openai = await collect(streamGeneration({ baseUrl: w.url, protocol: "openai", baseModelId: "loraland-mini" }, { prompt, adapterId: "wordnet", params }));
    const text = (ev: StreamEvent[]) => ev.flatMap((e) => (e.type === "token" && !e.special ? [e.text] : [])).join("");
    expect(text(openai)).toBe((lorax.at(-1) as { generatedText: string }).generatedText);
    const done = openai.at(-1)!;
    expect(done.type === "done" && done.promptTokens).toBeGreaterThan(0);
  });

  it("the hub relays a comparison from the real worker and aborting cancels mid-stream", async () => {
    const hub = new StreamHub({ target: () => ({ baseUrl: w.url, protocol: "lorax" }), persist: async () => {} });
    const prompt = "Once upon a time";
    const runId = hub.start("o", [
      { generationId: "a", request: { prompt, adapterId: "e2e", params: { max_new_tokens: 10, temperature: 0 } } },
      { generationId: "b", request: { prompt, adapterId: null, params: { max_new_tokens: 1000, temperature: 0, ignore_eos: true } } },
    ]);
    const events: RunChunk[] = [];
    for await (const [, c] of hub.subscribe(runId, "o", 0)) {
      events.push(c);
      if (c.kind === "end" && c.pane === 0) hub.stop(runId, "o", 1);
    }
    const ends = events.filter((c): c is Extract<RunChunk, { kind: "end" }> => c.kind === "end");
    const e2e = ends.find((e) => e.pane === 0)!;
    expect(e2e.status).toBe("done");
    expect(e2e.output).toBe((await generate(w.url, prompt, "e2e", 10)).generated_text);
    const base = ends.find((e) => e.pane === 1)!;
    // ignoring EOS, the base would run to 1000 tokens: it was stopped well before
    expect(base.status).toBe("stopped");
    expect(base.stats.tokensOut).toBeLessThan(1000);
  });

  it("worker errors keep their status and message; the tokenizer counts tokens", async () => {
    const err = await collect(streamGeneration({ baseUrl: w.url, protocol: "lorax" }, { prompt: "x", adapterId: "no-such-adapter", params })).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as WorkerError).status).toBe(404);
    expect(await countTokens({ baseUrl: w.url, protocol: "lorax" }, "Hello world")).toBe(5);
  });
});

describe.runIf(realWorkerAvailable())("chat mode on a fixture copy given a chat template", () => {
  let w: RunningWorker;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-chat-"));
  beforeAll(async () => {
    fs.cpSync(path.resolve("tests/data/fixtures/tiny-mistral/base"), path.join(dir, "base"), { recursive: true });
    const cfgPath = path.join(dir, "base/tokenizer_config.json");
    const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
    // Mistral's [INST] template
    cfg.chat_template =
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    w = await spawnRealWorker(path.join(dir, "base"), path.resolve("tests/data/fixtures/tiny-mistral/adapters"));
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("streams a multi-turn chat through /v1/chat/completions", async () => {
    const events = await collect(
      streamGeneration(
        { baseUrl: w.url, protocol: "lorax", baseModelId: "base" },
        {
          prompt: "and now?",
          messages: [
            { role: "user", content: "hello" },
            { role: "assistant", content: "hi" },
            { role: "user", content: "and now?" },
          ],
          adapterId: null,
          params: { max_new_tokens: 6, temperature: 0 },
        },
      ),
    );
    const tokens = events.filter((e) => e.type === "token");
    expect(tokens.length).toBeGreaterThan(0);
    const done = events.at(-1)!;
    expect(done.type).toBe("done");
    expect(done.type === "done" && ["length", "eos_token"].includes(done.finishReason)).toBe(true);
  });

  it("a model without a chat template answers a clear 422", async () => {
    const demo = await spawnRealWorker(path.resolve("tests/data/fixtures/tiny-mistral/base"), path.resolve("tests/data/fixtures/tiny-mistral/adapters"));
    try {
      const err = await collect(
        streamGeneration({ baseUrl: demo.url, protocol: "lorax" }, { prompt: "x", messages: [{ role: "user", content: "x" }], adapterId: null, params }),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(WorkerError);
      expect((err as WorkerError).status).toBe(422);
      expect((err as WorkerError).message).toMatch(/chat template/);
    } finally {
      await demo.stop();
    }
  });
});

describe.runIf(realWorkerAvailable())("the generate router validates with the worker's own limits", () => {
  let w: RunningWorker;
  beforeAll(async () => {
    w = await spawnRealWorker(path.resolve("data/demo/base"), path.resolve("data/demo/adapters"));
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
  });

  it("refuses max_new_tokens over the worker's /info limit, naming the field", async () => {
    const { randomUUID } = await import("node:crypto");
    const { openDb } = await import("../../db/client");
    const { migrateDb } = await import("../../db/migrate");
    const { parseEnv } = await import("../../server/env");
    const { generateRouter } = await import("../../server/routers/generate");
    const { createCallerFactory, createTRPCRouter } = await import("../../server/trpc");
    const handle = await openDb({});
    await migrateDb(handle);
    try {
      const info = (await (await fetch(`${w.url}/info`)).json()) as { max_new_tokens: number };
      const call = createCallerFactory(createTRPCRouter({ generate: generateRouter }))({
        db: handle.db,
        env: parseEnv({ INFERENCE_URL: w.url }),
        ownerId: randomUUID(),
        headers: new Headers(),
      });
      await expect(call.generate.start({ mode: "raw", adapters: [null], prompt: "x", params: { max_new_tokens: info.max_new_tokens + 1 } })).rejects.toThrow(
        new RegExp(`params.max_new_tokens must be ≤ ${info.max_new_tokens}`),
      );
    } finally {
      await handle.close();
    }
  });
});
