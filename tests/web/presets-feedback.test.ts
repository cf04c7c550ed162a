/**
 * Saved presets and thumbs up/down (issue 14 item 14) through the routers on PGlite and Postgres:
 * CRUD, owner isolation (someone else's preset or answer is 404), the feedback toggle, and the
 * history export carrying the feedback.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatToJson, chatToMarkdown } from "../../components/history/export";
import { createChat, getChat, startTurn } from "../../server/db-queries/chats";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";
import { databases, type TestDb } from "../eval/db-harness";

const ALICE = randomUUID();
const BOB = randomUUID();
const params = { max_new_tokens: 32, temperature: 0 };

for (const target of databases) {
  describe(`presets and feedback on ${target.name}`, () => {
    let t: TestDb;
    let alice: ReturnType<typeof createCaller>;
    let bob: ReturnType<typeof createCaller>;
    beforeAll(async () => {
      t = await target.open();
      const env = parseEnv({ INFERENCE_URL: "http://127.0.0.1:9", DATA_DIR: "/tmp/unused-presets" });
      alice = createCaller({ db: t.db, env, ownerId: ALICE, headers: new Headers() });
      bob = createCaller({ db: t.db, env, ownerId: BOB, headers: new Headers() });
    });
    afterAll(async () => {
      await t?.close();
    });

    it("saves, lists, loads, renames, overwrites and deletes a preset", async () => {
      const made = await alice.presets.create({ name: "  short review  ", adapter: "sentiment", mode: "template", inputs: { review: "Great film" }, params: { ...params, seed: 7 } });
      expect(made).toMatchObject({ name: "short review", adapter: "sentiment", mode: "template", inputs: { review: "Great film" }, prompt: "", params: { max_new_tokens: 32, temperature: 0, seed: 7 } });
      await alice.presets.create({ name: "base raw", adapter: null, mode: "raw", prompt: "Once upon a time", params });
      expect((await alice.presets.list()).map((p) => p.name).sort()).toEqual(["base raw", "short review"]);
      expect(await alice.presets.get({ id: made.id })).toMatchObject({ id: made.id, inputs: { review: "Great film" } });

      const renamed = await alice.presets.update({ id: made.id, name: "review v2" });
      expect(renamed).toMatchObject({ name: "review v2", inputs: { review: "Great film" } });
      const overwritten = await alice.presets.update({ id: made.id, setup: { adapter: "sql", mode: "raw", inputs: {}, prompt: "SELECT", params: { max_new_tokens: 8 } } });
      expect(overwritten).toMatchObject({ name: "review v2", adapter: "sql", mode: "raw", prompt: "SELECT", params: { max_new_tokens: 8 } });

      await alice.presets.delete({ id: made.id });
      expect((await alice.presets.list()).map((p) => p.name)).toEqual(["base raw"]);
      await expect(alice.presets.get({ id: made.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("keeps presets to their owner: someone else's id is 404 for get, update and delete", async () => {
      const mine = await alice.presets.create({ name: "private", adapter: null, mode: "raw", prompt: "secret", params });
      expect((await bob.presets.list()).map((p) => p.id)).not.toContain(mine.id);
      await expect(bob.presets.get({ id: mine.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(bob.presets.update({ id: mine.id, name: "stolen" })).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(bob.presets.delete({ id: mine.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await alice.presets.get({ id: mine.id })).toMatchObject({ name: "private", prompt: "secret" });
      // the same name is another owner's to use
      await expect(bob.presets.create({ name: "private", adapter: null, mode: "raw", prompt: "", params })).resolves.toMatchObject({ name: "private" });
    });

    it("refuses bad presets naming the field", async () => {
      await alice.presets.create({ name: "dup", adapter: null, mode: "raw", prompt: "", params });
      await expect(alice.presets.create({ name: "dup", adapter: null, mode: "raw", prompt: "", params })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/^name: .*"dup"/) });
      await expect(alice.presets.create({ name: "   ", adapter: null, mode: "raw", prompt: "", params })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/name is empty/) });
      await expect(alice.presets.create({ name: "x", adapter: "no-such-adapter", mode: "raw", prompt: "", params })).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/^adapter: /) });
      await expect(alice.presets.create({ name: "y", adapter: null, mode: "raw", prompt: "", params: { max_new_tokens: 0 } })).rejects.toThrow(/max_new_tokens must be ≥ 1/);
      const anon = createCaller({ db: t.db, env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }), ownerId: null, headers: new Headers() });
      await expect(anon.presets.list()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    });

    it("toggles thumbs up/down on the owner's own answers only, and the export carries them", async () => {
      const chat = await createChat({ db: t.db, ownerId: ALICE, kind: "compare", title: "two panes", settings: { adapters: ["sentiment", null], mode: "raw", params } });
      const [g1, g2] = [randomUUID(), randomUUID()];
      await startTurn({ db: t.db, ownerId: ALICE, chatId: chat.id, content: "Review: fine", inputs: null, mode: "raw", panes: [{ adapterId: "sentiment", prompt: "Review: fine", id: g1 }, { adapterId: null, prompt: "Review: fine", id: g2 }], params });

      expect(await alice.feedback.toggle({ generationId: g1, rating: "up" })).toEqual({ generationId: g1, rating: "up" });
      expect(await alice.feedback.toggle({ generationId: g2, rating: "down" })).toEqual({ generationId: g2, rating: "down" });
      expect(await alice.feedback.get({ chatId: chat.id })).toEqual({ [g1]: "up", [g2]: "down" });
      // the same thumb again clears it; the other thumb replaces it
      expect((await alice.feedback.toggle({ generationId: g2, rating: "down" })).rating).toBeNull();
      expect((await alice.feedback.toggle({ generationId: g2, rating: "up" })).rating).toBe("up");
      expect((await alice.feedback.toggle({ generationId: g2, rating: "down" })).rating).toBe("down");
      expect(await alice.feedback.get({ generationIds: [g1, g2] })).toEqual({ [g1]: "up", [g2]: "down" });

      // someone else's answer: not found, and nothing changes
      await expect(bob.feedback.toggle({ generationId: g1, rating: "down" })).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/^generationId: /) });
      await expect(bob.feedback.toggle({ generationId: randomUUID(), rating: "up" })).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await bob.feedback.get({ chatId: chat.id })).toEqual({});
      expect((await alice.feedback.get({ chatId: chat.id }))[g1]).toBe("up");

      const detail = (await getChat({ db: t.db, ownerId: ALICE, id: chat.id }))!;
      const feedback = await alice.feedback.get({ chatId: chat.id });
      const json = JSON.parse(chatToJson(detail, feedback)) as { turns: { outputs: { id: string; feedback: string | null }[] }[] };
      expect(json.turns[0]!.outputs.map((o) => [o.id, o.feedback])).toEqual([[g1, "up"], [g2, "down"]]);
      const md = chatToMarkdown(detail, feedback);
      expect(md).toMatch(/### sentiment \(queued\)[\s\S]*Feedback: 👍 thumbs up[\s\S]*### base model \(queued\)[\s\S]*Feedback: 👎 thumbs down/);
      // no rating: null in JSON, no line in Markdown
      expect(JSON.parse(chatToJson(detail, {})).turns[0].outputs[0].feedback).toBeNull();
      expect(chatToMarkdown(detail, {})).not.toMatch(/Feedback:/);
    });
  });
}
