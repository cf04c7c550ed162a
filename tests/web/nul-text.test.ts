/**
 * Postgres (and PGlite) store no NUL (U+0000) in text or jsonb. A tRPC input holding one is a 400
 * naming the field (before: a 500 from the failed insert, found by the tRPC fuzzer on
 * presets.create), and a model's NUL in a generation is stored as U+FFFD (before: the hub's write
 * failed for good and was retried forever). PGlite, and Postgres when DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChat, getChat, startTurn, updateGeneration } from "../../server/db-queries/chats";
import { ownerSecret, signOwner } from "../../server/auth/owner-cookie";
import { parseEnv } from "../../server/env";
import { handleTRPC } from "../../server/http/trpc-handler";
import { loneSurrogatePath, nulPath } from "../../server/trpc";
import { drivers, type TestDatabase } from "./db-harness";

describe("nulPath", () => {
  it("names where a NUL is: a value, a key, an array item; nothing for clean input", () => {
    expect(nulPath({ prompt: "a\u0000" })).toBe("prompt");
    expect(nulPath({ inputs: { y: "\u0000" } })).toBe("inputs.y");
    expect(nulPath({ inputs: { "a\u0000": "x" } })).toBe('inputs."a\\u0000"');
    expect(nulPath({ stop: ["ok", "x\u0000"] })).toBe("stop.1");
    expect(nulPath("\u0000")).toBe("input");
    expect(nulPath({ prompt: "ok", n: 1, inputs: { y: "\uFFFD" }, d: new Date() })).toBeNull();
  });
  it("loneSurrogatePath names an unpaired surrogate in a value or a key; a pair (an emoji) passes", () => {
    expect(loneSurrogatePath({ inputs: { "\udc00x": "%" } })).toBe('inputs."\\udc00x"');
    expect(loneSurrogatePath({ prompt: "a\ud800" })).toBe("prompt");
    expect(loneSurrogatePath({ stop: ["\ud83e\udd99", "x\udc00y"] })).toBe("stop.1");
    expect(loneSurrogatePath({ prompt: "🦙 é \ud83e\udd99" })).toBeNull();
  });
});

for (const driver of drivers) {
  describe(`NUL characters on ${driver.name}`, () => {
    let t: TestDatabase;
    let cookie: string;
    beforeAll(async () => {
      t = await driver.open();
      cookie = `owner=${signOwner(crypto.randomUUID(), await ownerSecret(t.db))}`;
    });
    afterAll(async () => {
      await t?.close();
    });

    const post = (path: string, json: unknown) =>
      handleTRPC(
        new Request(`http://localhost:3000/api/trpc/${path}`, { method: "POST", headers: { host: "localhost:3000", origin: "http://localhost:3000", cookie, "content-type": "application/json" }, body: JSON.stringify({ json }) }),
        { db: async () => t.db, env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }) },
      );

    it("an input holding one is a 400 naming the field, for any procedure", async () => {
      const params = { max_new_tokens: 4 };
      const cases: [string, unknown, string][] = [
        ["presets.create", { name: "p", adapter: null, mode: "template", inputs: { y: "\u0000" }, params }, "inputs.y"],
        ["generate.start", { mode: "raw", adapters: [null], prompt: "a\u0000b", params }, "prompt"],
        ["chats.rename", { id: crypto.randomUUID(), title: "\u0000" }, "title"],
      ];
      // an unpaired surrogate: jsonb refuses its escape (a 500 from presets.create before)
      const res = await post("presets.create", { name: "p", adapter: null, mode: "template", inputs: { "\udc00x": "" }, params });
      const text = await res.text();
      expect(res.status, text).toBe(400);
      expect(text).toContain("text may not contain an unpaired surrogate");
      for (const [path, input, field] of cases) {
        const res = await post(path, input);
        const text = await res.text();
        expect(res.status, text).toBe(400);
        expect(text).toContain(`${field}: text may not contain NUL characters`);
      }
    });

    it("a NUL the model emitted is stored as U+FFFD, in the output and the tokens", async () => {
      const params = { max_new_tokens: 4 };
      const chat = await createChat({ db: t.db, ownerId: "o", kind: "run", title: "t", settings: { adapters: [null], mode: "raw", params } });
      const { generations } = await startTurn({ db: t.db, ownerId: "o", chatId: chat.id, content: "hi", inputs: null, mode: "raw", panes: [{ adapterId: null, prompt: "hi" }], params });
      const id = generations[0]!.id;
      await updateGeneration({
        db: t.db,
        id,
        patch: { status: "done", output: "a\u0000b", tokens: [{ id: 3, text: "\u0000", logprob: -1, special: false, alternatives: [{ id: 4, text: "x\u0000", logprob: -2 }] }] },
      });
      const row = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!;
      expect([row.status, row.output]).toEqual(["done", "a\uFFFDb"]);
      expect(row.tokens).toEqual([{ id: 3, text: "\uFFFD", logprob: -1, special: false, alternatives: [{ id: 4, text: "x\uFFFD", logprob: -2 }] }]);
    });
  });
}
