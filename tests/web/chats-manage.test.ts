/**
 * History management (issue 14 item 10): titles come from the user's own words (template inputs,
 * not the template's instruction), and "clear all" deletes every chat of the caller and nobody
 * else's, only when confirmed. The chats router on a real database (PGlite; Postgres when
 * DATABASE_URL is set), through the app's own tRPC caller.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { createChat, titleFromPrompt } from "../../server/db-queries/chats";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";

describe("titleFromPrompt", () => {
  it("template mode: the first filled input, not the template's instruction", () => {
    const prompt = "Is the overall sentiment of this review positive or negative?\n\nReview: Loved it\nSentiment:";
    expect(titleFromPrompt(prompt, { review: "  Loved it,\n  really " })).toBe("Loved it,");
    expect(titleFromPrompt(prompt, { subject: " ", body: "Buy   now" })).toBe("Buy now");
    expect(titleFromPrompt(prompt, null)).toBe("Is the overall sentiment of this review positive or negative?");
    expect(titleFromPrompt("\n\n", {})).toBe("Untitled");
    expect(titleFromPrompt("x", { a: "y".repeat(100) })).toBe(`${"y".repeat(79)}…`);
  });
});

const drivers = [{ name: "pglite", opts: {} }, ...(process.env.DATABASE_URL ? [{ name: "postgres", opts: { databaseUrl: process.env.DATABASE_URL, max: 2 } }] : [])];

for (const { name, opts } of drivers) {
  describe(`chats.clear (${name})`, () => {
    let handle: DbHandle;
    beforeAll(async () => {
      handle = await openDb(opts);
      await migrateDb(handle);
    });
    afterAll(async () => {
      await handle?.close();
    });
    const caller = (ownerId: string) =>
      createCaller({ db: handle.db, env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }), ownerId, headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }) });
    const settings = { adapters: [null], mode: "raw" as const, params: { max_new_tokens: 4 } };

    it("deletes every chat of the caller, none of another owner's; needs confirm: true", async () => {
      const me = randomUUID();
      const other = randomUUID();
      for (const t of ["a", "b", "c"]) await createChat({ db: handle.db, ownerId: me, kind: "run", title: t, settings });
      await createChat({ db: handle.db, ownerId: other, kind: "run", title: "theirs", settings });
      await expect(caller(me).chats.clear({ confirm: false as true })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/confirm must be true/) });
      expect(await caller(me).chats.list()).toHaveLength(3);
      await expect(caller(me).chats.clear({ confirm: true })).resolves.toEqual({ deleted: 3 });
      expect(await caller(me).chats.list()).toEqual([]);
      expect((await caller(other).chats.list()).map((c) => c.title)).toEqual(["theirs"]);
      await expect(caller(me).chats.clear({ confirm: true })).resolves.toEqual({ deleted: 0 });
    });
  });
}
