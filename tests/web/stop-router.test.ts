/**
 * generate.stop through a tRPC caller (PGlite, the LoRAX stand-in): `shown` (tokens the browser
 * showed, per pane) cuts the stored output there; a bad count is refused naming the field.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeTokens, startFakeWorker, type FakeWorker } from "../../bench/web/fake-worker";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { parseEnv } from "../../server/env";
import type { RunChunk } from "../../server/inference/stream-hub";
import { OwnerLimits } from "../../server/limits";
import { chatsRouter } from "../../server/routers/chats";
import { generateRouter, setGenerateLimits } from "../../server/routers/generate";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";

const createCaller = createCallerFactory(createTRPCRouter({ generate: generateRouter, chats: chatsRouter }));
let worker: FakeWorker;
let handle: DbHandle;
beforeAll(async () => {
  worker = await startFakeWorker({ delayMs: 5 });
  handle = await openDb({});
  await migrateDb(handle);
  setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
});
afterAll(async () => {
  await worker?.close();
  await handle?.close();
});

const caller = (ownerId: string) =>
  createCaller({ db: handle.db, env: parseEnv({ INFERENCE_URL: worker.url }), ownerId, headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }) });

describe("generate.stop with shown", () => {
  it("stores the first `shown` tokens of the pane as stopped", async () => {
    const c = caller(randomUUID());
    const { runId, chatId } = await c.generate.start({ mode: "raw", adapters: ["spam"], prompt: "x", params: { max_new_tokens: 900, temperature: 0 } });
    let n = 0;
    for await (const e of await c.generate.stream({ runId })) {
      const chunk = (e as unknown as [string, RunChunk])[1];
      if (chunk.kind === "token" && ++n === 4) await c.generate.stop({ runId, pane: 0, shown: [1] });
    }
    const chat = await c.chats.get({ id: chatId });
    const g = chat.generations[0]!;
    expect([g.status, g.output, g.tokensOut]).toEqual(["stopped", fakeTokens("spam", 1).join(""), 1]);
  });

  it("refuses a negative or fractional count, naming `shown`", async () => {
    const c = caller(randomUUID());
    const runId = randomUUID();
    await expect(c.generate.stop({ runId, shown: [-1] })).rejects.toThrow(/shown: a token count is never negative/);
    await expect(c.generate.stop({ runId, shown: [1.5] })).rejects.toThrow(/shown: a whole number/);
  });
});
