/**
 * Chat mode's system prompt (issue 14 item 10) through the generate router on the REAL worker,
 * serving a copy of the tiny-mistral fixture given Mistral's [INST] chat template, the strict
 * one that refuses a "system" role: the system prompt is folded into the first user message, kept
 * in the chat's settings for later turns, and the answer is the worker's own answer to that
 * rendered conversation. On Postgres when DATABASE_URL is set, else PGlite.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { parseEnv } from "../../server/env";
import type { RunChunk } from "../../server/inference/stream-hub";
import { OwnerLimits } from "../../server/limits";
import { chatsRouter } from "../../server/routers/chats";
import { generateRouter, setGenerateLimits } from "../../server/routers/generate";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";
import { realWorkerAvailable } from "../e2e/playground-harness";
import { spawnRealWorker, type RunningWorker } from "./generate-worker-process";

const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
const SYSTEM = "Answer in one word.";
const params = { max_new_tokens: 6, temperature: 0 };

const router = createTRPCRouter({ generate: generateRouter, chats: chatsRouter });
const createCaller = createCallerFactory(router);

async function drain(it: AsyncIterable<unknown>): Promise<string> {
  let text = "";
  for await (const e of it) {
    const [, data] = e as [string, RunChunk];
    if (data.kind === "token" && !data.special) text += data.text;
  }
  return text;
}

/** The worker's own completion of a rendered prompt (LoRAX /generate, greedy). */
async function workerAnswer(url: string, inputs: string): Promise<string> {
  const res = await fetch(`${url}/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs, parameters: { max_new_tokens: params.max_new_tokens } }) });
  return ((await res.json()) as { generated_text: string }).generated_text;
}

// the stream hub is one per process, bound to the first database it saw: one database per run
const drivers = [process.env.DATABASE_URL ? { name: "postgres", opts: { databaseUrl: process.env.DATABASE_URL, max: 2 } } : { name: "pglite", opts: {} }];

describe.runIf(realWorkerAvailable())("chat mode with a system prompt, real worker, Mistral's [INST] template", () => {
  let w: RunningWorker;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-system-"));
  beforeAll(async () => {
    fs.cpSync(path.resolve("tests/data/fixtures/tiny-mistral/base"), path.join(dir, "base"), { recursive: true });
    const cfgPath = path.join(dir, "base/tokenizer_config.json");
    const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
    cfg.chat_template = MISTRAL_TEMPLATE;
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    w = await spawnRealWorker(path.join(dir, "base"), path.resolve("tests/data/fixtures/tiny-mistral/adapters"));
    setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const { name, opts } of drivers) {
    describe(name, () => {
      let handle: DbHandle;
      beforeAll(async () => {
        handle = await openDb(opts);
        await migrateDb(handle);
      });
      afterAll(async () => {
        await handle?.close();
      });
      const caller = () => createCaller({ db: handle.db, env: parseEnv({ INFERENCE_URL: w.url }), ownerId: randomUUID(), headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }) });

      it("is folded into the first user message, kept for the next turn, and answered as the worker answers that conversation", { timeout: 300_000 }, async () => {
        const c = caller();
        const first = await c.generate.start({ mode: "chat", adapters: [null], prompt: "hello", system: `  ${SYSTEM}  `, params });
        const a1 = await drain(await c.generate.stream({ runId: first.runId }));
        // the next turn reads this answer from history: wait until its row is final
        await expect.poll(async () => (await c.chats.get({ id: first.chatId })).generations[0]?.status, { timeout: 90_000 }).toBe("done");
        expect(a1).toBe(await workerAnswer(w.url, `[INST] ${SYSTEM}\n\nhello [/INST]`));
        const second = await c.generate.start({ chatId: first.chatId, mode: "chat", adapters: [null], prompt: "and now?", params });
        await drain(await c.generate.stream({ runId: second.runId }));
        await expect.poll(async () => (await c.chats.get({ id: first.chatId })).generations.map((g) => g.status).join(), { timeout: 90_000 }).toBe("done,done");
        const detail = await c.chats.get({ id: first.chatId });
        expect(detail.chat.settings.system).toBe(SYSTEM);
        expect(detail.generations.map((g) => JSON.parse(g.prompt))).toEqual([
          [{ role: "user", content: `${SYSTEM}\n\nhello` }],
          [
            { role: "user", content: `${SYSTEM}\n\nhello` },
            { role: "assistant", content: a1 },
            { role: "user", content: "and now?" },
          ],
        ]);
        // the messages stay the user's own words
        expect(detail.messages.map((m) => m.content)).toEqual(["hello", "and now?"]);
      });

      it("outside chat mode, or on a continued chat, a system prompt is a 400 naming the field", async () => {
        const c = caller();
        await expect(c.generate.start({ mode: "raw", adapters: [null], prompt: "x", system: "be brief", params })).rejects.toMatchObject({ code: "BAD_REQUEST", message: "system: a system prompt needs chat mode" });
        const first = await c.generate.start({ mode: "chat", adapters: [null], prompt: "hi", params });
        await drain(await c.generate.stream({ runId: first.runId }));
        await expect(c.generate.start({ chatId: first.chatId, mode: "chat", adapters: [null], prompt: "x", system: "late", params })).rejects.toMatchObject({
          code: "BAD_REQUEST",
          message: "system: set when a chat starts (its later turns keep it)",
        });
      });
    });
  }
});
