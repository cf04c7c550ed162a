/**
 * The generate, chats and shares routers through tRPC callers with a real database (PGlite, and
 * Postgres when DATABASE_URL is set) and the foundation's migrations; the worker is the
 * LoRAX-protocol stand-in (real-worker runs: generate-worker.test.ts and the e2e tests).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { fakeTokens, startFakeWorker, type FakeWorker } from "../../bench/web/fake-worker";
import { eq } from "drizzle-orm";
import { openDb, type DbHandle } from "../../db/client";
import { chats, generations } from "../../db/schema/chats";
import { migrateDb } from "../../db/migrate";
import { parseEnv } from "../../server/env";
import { chatsRouter } from "../../server/routers/chats";
import { generateRouter, setGenerateLimits } from "../../server/routers/generate";
import { sharesRouter } from "../../server/routers/shares";
import { OwnerLimits } from "../../server/limits";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";
import type { RunChunk } from "../../server/inference/stream-hub";

const router = createTRPCRouter({ generate: generateRouter, chats: chatsRouter, shares: sharesRouter });
const createCaller = createCallerFactory(router);

let worker: FakeWorker;
let handle: DbHandle;
beforeAll(async () => {
  worker = await startFakeWorker({ delayMs: 3 });
  handle = await openDb(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL, max: 2 } : {});
  await migrateDb(handle);
  setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
});
afterAll(async () => {
  await worker?.close();
  await handle?.close();
});

function caller(ownerId: string | null, headers: Record<string, string> = { host: "localhost:3000", origin: "http://localhost:3000" }) {
  return createCaller({ db: handle.db, env: parseEnv({ INFERENCE_URL: worker.url }), ownerId, headers: new Headers(headers) });
}

const params = { max_new_tokens: 5, temperature: 0 };

async function drain(it: AsyncIterable<unknown>) {
  const out: { id: string; data: RunChunk }[] = [];
  for await (const e of it) {
    // tracked events come out of a caller as [id, data, symbol]
    const [id, data] = e as [string, RunChunk];
    out.push({ id, data });
  }
  return out;
}

describe("generate router", () => {
  it("starts a comparison, streams it with tracked ids, stores it in history, and resumes from lastEventId", async () => {
    const owner = randomUUID();
    const c = caller(owner);
    const started = await c.generate.start({ mode: "raw", adapters: ["spam", null], prompt: "Hello world", params });
    expect(started.generationIds).toHaveLength(2);
    const events = await drain(await c.generate.stream({ runId: started.runId }));
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i)));
    const text = (pane: number) => events.flatMap((e) => (e.data.kind === "token" && e.data.pane === pane && !e.data.special ? [e.data.text] : [])).join("");
    expect(text(0)).toBe(fakeTokens("spam", 5).join(""));
    expect(text(1)).toBe(fakeTokens(null, 5).join(""));

    const resumed = await drain(await c.generate.stream({ runId: started.runId, lastEventId: "4" }));
    expect(resumed.map((e) => e.id)[0]).toBe("5");
    expect(resumed).toEqual(events.slice(5));

    const list = await c.chats.list();
    expect(list[0]).toMatchObject({ id: started.chatId, kind: "compare", title: "Hello world", adapters: ["spam", null] });
    const detail = await c.chats.get({ id: started.chatId });
    expect(detail.generations.map((g) => [g.status, g.output])).toEqual([
      ["done", fakeTokens("spam", 5).join("")],
      ["done", fakeTokens(null, 5).join("")],
    ]);
    // another owner sees nothing of it
    await expect(drain(await caller(randomUUID()).generate.stream({ runId: started.runId }))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(caller(randomUUID()).chats.get({ id: started.chatId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(caller(randomUUID()).generate.start({ chatId: started.chatId, mode: "raw", adapters: [null], prompt: "x", params })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("the chat, its turn and its generations are stored when start answers (a kill -9 right after loses nothing)", async () => {
    const owner = randomUUID();
    const started = await caller(owner).generate.start({ mode: "raw", adapters: [null, "spam"], prompt: "Durable?", params });
    // read straight from the database, before anything else runs: no deferred write may be pending
    const [chat] = await handle.db.select().from(chats).where(eq(chats.id, started.chatId));
    expect(chat).toMatchObject({ ownerId: owner, title: "Durable?" });
    const rows = await handle.db.select({ id: generations.id }).from(generations).where(eq(generations.chatId, started.chatId));
    expect(rows.map((r) => r.id).sort()).toEqual([...started.generationIds].sort());
    await drain(await caller(owner).generate.stream({ runId: started.runId }));
  });

  it("validates with the worker's limits, naming the field", async () => {
    const c = caller(randomUUID());
    const err = await c.generate.start({ mode: "raw", adapters: [null], prompt: "x", params: { max_new_tokens: 100_000 } }).catch((e: TRPCError) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe("BAD_REQUEST");
    expect((err as TRPCError).message).toMatch(/max_new_tokens must be ≤ 2048/);
    await expect(c.generate.start({ mode: "raw", adapters: [], prompt: "x", params })).rejects.toThrow(/at least one model/);
    await expect(c.generate.start({ mode: "raw", adapters: Array(7).fill(null), prompt: "x", params })).rejects.toThrow(/at most 6 panes/);
    await expect(c.generate.start({ mode: "raw", adapters: ["../etc"], prompt: "x", params: { ...params, temperature: -1 } })).rejects.toThrow(/temperature must be ≥ 0/);
  });

  it("refuses cross-site and cookieless state changes", async () => {
    const evil = caller(randomUUID(), { host: "localhost:3000", origin: "https://evil.example", "sec-fetch-site": "cross-site" });
    await expect(evil.generate.start({ mode: "raw", adapters: [null], prompt: "x", params })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller(null).generate.start({ mode: "raw", adapters: [null], prompt: "x", params })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("answers TOO_MANY_REQUESTS over the per-owner limits (429 over HTTP)", async () => {
    setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 2, requestsPerMinute: 3 }));
    try {
      const c = caller(randomUUID());
      const long = { max_new_tokens: 200, temperature: 0 };
      const a = await c.generate.start({ mode: "raw", adapters: [null, "sql"], prompt: "x", params: long });
      const err = await c.generate.start({ mode: "raw", adapters: [null], prompt: "x", params }).catch((e: TRPCError) => e);
      expect((err as TRPCError).code).toBe("TOO_MANY_REQUESTS");
      expect((err as TRPCError).message).toMatch(/Too many streams at once/);
      await c.generate.stop({ runId: a.runId });
      const events = await drain(await c.generate.stream({ runId: a.runId }));
      expect(events.filter((e) => e.data.kind === "end").map((e) => (e.data as { status: string }).status)).toEqual(["stopped", "stopped"]);
      // requests 2 and 3 of the minute (the refused one did not count)
      for (let i = 0; i < 2; i++) await drain(await c.generate.stream({ runId: (await c.generate.start({ mode: "raw", adapters: [null], prompt: "x", params })).runId }));
      const rate = await c.generate.start({ mode: "raw", adapters: [null], prompt: "x", params }).catch((e: TRPCError) => e);
      expect((rate as TRPCError).message).toMatch(/at most 3 generations a minute/);
    } finally {
      setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
    }
  });

  it("counts prompt tokens with the worker's tokenizer, and says why when it cannot", async () => {
    expect(await caller(null).generate.tokenCount({ text: "one two three" })).toEqual({ tokens: 4, error: null });
    const down = createCaller({ db: handle.db, env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:1" }), ownerId: null, headers: new Headers() });
    const r = await down.generate.tokenCount({ text: "x" });
    expect(r.tokens).toBeNull();
    expect(r.error).toMatch(/unreachable/);
  });
});

describe("chats and shares routers", () => {
  it("renames, shares (public read, owner-only revoke), and deletes", async () => {
    const owner = randomUUID();
    const c = caller(owner);
    const { runId, chatId } = await c.generate.start({ mode: "template", adapters: ["ner"], prompt: "Text: Ada", inputs: { text: "Ada" }, params });
    await drain(await c.generate.stream({ runId }));
    await c.chats.rename({ id: chatId, title: "  NER test " });
    expect((await c.chats.get({ id: chatId })).chat.title).toBe("NER test");
    await expect(c.chats.rename({ id: chatId, title: "   " })).rejects.toThrow(/title is empty/);

    const { slug } = await c.shares.create({ chatId });
    expect(slug).toMatch(/^[0-9A-Za-z]{12}$/);
    const stranger = caller(null, {});
    const shared = await stranger.shares.get({ slug });
    expect(shared.mine).toBe(false);
    expect(shared.snapshot.turns[0]!.panes[0]!.output).toBe(fakeTokens("ner", 5).join(""));
    expect((await c.shares.get({ slug })).mine).toBe(true);
    await expect(caller(randomUUID()).shares.revoke({ slug })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await c.shares.revoke({ slug });
    await expect(stranger.shares.get({ slug })).rejects.toThrow(/revoked/);

    await c.chats.delete({ id: chatId });
    await expect(c.chats.get({ id: chatId })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
