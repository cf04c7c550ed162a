/**
 * A chat that is not the caller's is NOT_FOUND wherever it is named (rename, delete, share, a
 * continued turn), with no router mapping errors itself: ChatNotFoundError is a LoraLandError and
 * server/trpc.ts maps it. Real database (PGlite, and Postgres when DATABASE_URL is set).
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { chatMessages, generations } from "../../db/schema/chats";
import { createChat } from "../../server/db-queries/chats";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";

let handle: DbHandle;
beforeAll(async () => {
  handle = await openDb(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL, max: 2 } : {});
  await migrateDb(handle);
});
afterAll(async () => {
  await handle?.close();
});

it("another owner's chat: rename, delete, share and a continued turn are NOT_FOUND", async () => {
  const chat = await createChat({ db: handle.db, ownerId: randomUUID(), kind: "run", title: "mine", settings: { adapters: [null], mode: "raw", params: { max_new_tokens: 4 } } });
  const eve = createCaller({
    db: handle.db,
    env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }),
    ownerId: randomUUID(),
    headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }),
  });
  const notFound = { code: "NOT_FOUND", message: `chat ${chat.id} not found` };
  await expect(eve.chats.rename({ id: chat.id, title: "hers" })).rejects.toMatchObject(notFound);
  await expect(eve.chats.delete({ id: chat.id })).rejects.toMatchObject(notFound);
  await expect(eve.shares.create({ chatId: chat.id })).rejects.toMatchObject(notFound);
  await expect(eve.generate.start({ chatId: chat.id, mode: "chat", adapters: [null], prompt: "x", params: { max_new_tokens: 4 } })).rejects.toMatchObject({ code: "NOT_FOUND" });
  // a rerun (raw mode) sends the worker request before its rows are written: the write still
  // refuses the chat, and nothing lands in it
  await expect(eve.generate.start({ chatId: chat.id, mode: "raw", adapters: [null, "sql"], prompt: "x", params: { max_new_tokens: 4 } })).rejects.toMatchObject(notFound);
  expect(await handle.db.$count(chatMessages, eq(chatMessages.chatId, chat.id))).toBe(0);
  expect(await handle.db.$count(generations, eq(generations.chatId, chat.id))).toBe(0);
});
