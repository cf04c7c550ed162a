import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createChat,
  deleteChat,
  getChat,
  listChats,
  markUnfinishedInterrupted,
  renameChat,
  startTurn,
  updateGeneration,
  ChatNotFoundError,
} from "../../server/db-queries/chats";
import { databases, type TestDb } from "./chats-harness";

const params = { max_new_tokens: 16, temperature: 0 };

for (const { name, open } of databases) {
  describe(`history queries on ${name}`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await open();
    });
    afterAll(async () => {
      await t?.close();
    });

    it("stores a comparison turn with one queued generation per pane, in pane order", async () => {
      const chat = await createChat({
        db: t.db,
        ownerId: "alice",
        kind: "compare",
        title: "Classify",
        settings: { adapters: ["spam", null], mode: "template", inputs: { subject: "hi" }, params },
      });
      const { turn, generations } = await startTurn({
        db: t.db,
        ownerId: "alice",
        chatId: chat.id,
        content: "Subject: hi",
        inputs: { subject: "hi" },
        mode: "template",
        panes: [
          { adapterId: "spam", prompt: "Subject: hi" },
          { adapterId: null, prompt: "Subject: hi" },
        ],
        params,
      });
      expect(turn).toBe(0);
      expect(generations.map((g) => [g.pane, g.adapterId, g.status])).toEqual([
        [0, "spam", "queued"],
        [1, null, "queued"],
      ]);
      const second = await startTurn({
        db: t.db, ownerId: "alice", chatId: chat.id, content: "again", inputs: null, mode: "raw",
        panes: [{ adapterId: "spam", prompt: "again" }], params,
      });
      expect(second.turn).toBe(1);

      await updateGeneration({
        db: t.db,
        id: generations[0]!.id,
        patch: { status: "done", output: " ham", finishReason: "eos_token", ttftMs: 12.5, tokensOut: 2, tokensPerSecond: 40 },
      });
      const detail = await getChat({ db: t.db, ownerId: "alice", id: chat.id });
      expect(detail!.messages.map((m) => m.content)).toEqual(["Subject: hi", "again"]);
      const g0 = detail!.generations.find((g) => g.id === generations[0]!.id)!;
      expect([g0.status, g0.output, g0.finishReason, g0.ttftMs, g0.tokensOut]).toEqual(["done", " ham", "eos_token", 12.5, 2]);
    });

    it("never shows or changes another owner's chat", async () => {
      const chat = await createChat({ db: t.db, ownerId: "bob", kind: "run", title: "Bob's", settings: { adapters: [null], mode: "raw", params } });
      expect(await getChat({ db: t.db, ownerId: "alice", id: chat.id })).toBeNull();
      await expect(renameChat({ db: t.db, ownerId: "alice", id: chat.id, title: "x" })).rejects.toBeInstanceOf(ChatNotFoundError);
      await expect(deleteChat({ db: t.db, ownerId: "alice", id: chat.id })).rejects.toBeInstanceOf(ChatNotFoundError);
      await expect(
        startTurn({ db: t.db, ownerId: "alice", chatId: chat.id, content: "x", inputs: null, mode: "raw", panes: [{ adapterId: null, prompt: "x" }], params }),
      ).rejects.toBeInstanceOf(ChatNotFoundError);
      expect((await listChats({ db: t.db, ownerId: "alice" })).some((c) => c.id === chat.id)).toBe(false);
      expect((await listChats({ db: t.db, ownerId: "bob" })).map((c) => c.title)).toEqual(["Bob's"]);
    });

    it("lists newest first, searches titles, prompts and outputs, renames and deletes", async () => {
      const owner = "carol";
      const a = await createChat({ db: t.db, ownerId: owner, kind: "run", title: "first", settings: { adapters: [null], mode: "raw", params } });
      const b = await createChat({ db: t.db, ownerId: owner, kind: "run", title: "second", settings: { adapters: ["sql"], mode: "raw", params } });
      const { generations } = await startTurn({ db: t.db, ownerId: owner, chatId: a.id, content: "What is 100% of 7?", inputs: null, mode: "raw", panes: [{ adapterId: null, prompt: "p" }], params });
      await updateGeneration({ db: t.db, id: generations[0]!.id, patch: { output: "SELECT zebra FROM t" } });
      // startTurn touched `a`, so it is the newest
      expect((await listChats({ db: t.db, ownerId: owner })).map((c) => c.id)).toEqual([a.id, b.id]);
      expect((await listChats({ db: t.db, ownerId: owner, search: "SECOND" })).map((c) => c.id)).toEqual([b.id]);
      expect((await listChats({ db: t.db, ownerId: owner, search: "zebra" })).map((c) => c.id)).toEqual([a.id]);
      // LIKE wildcards in the search are literal
      expect((await listChats({ db: t.db, ownerId: owner, search: "100%" })).map((c) => c.id)).toEqual([a.id]);
      expect(await listChats({ db: t.db, ownerId: owner, search: "_" })).toEqual([]);
      await renameChat({ db: t.db, ownerId: owner, id: b.id, title: "renamed" });
      expect((await listChats({ db: t.db, ownerId: owner }))[0]).toMatchObject({ id: b.id, title: "renamed", adapters: ["sql"] });
      await deleteChat({ db: t.db, ownerId: owner, id: a.id });
      expect(await getChat({ db: t.db, ownerId: owner, id: a.id })).toBeNull();
      expect((await listChats({ db: t.db, ownerId: owner })).map((c) => c.id)).toEqual([b.id]);
    });

    it("marks what was streaming when the server stopped as interrupted, keeping the partial output", async () => {
      const chat = await createChat({ db: t.db, ownerId: "dave", kind: "run", title: "t", settings: { adapters: [null], mode: "raw", params } });
      const { generations } = await startTurn({ db: t.db, ownerId: "dave", chatId: chat.id, content: "x", inputs: null, mode: "raw", panes: [{ adapterId: null, prompt: "x" }, { adapterId: "spam", prompt: "x" }], params });
      await updateGeneration({ db: t.db, id: generations[0]!.id, patch: { status: "streaming", output: "half an ans" } });
      await updateGeneration({ db: t.db, id: generations[1]!.id, patch: { status: "done", output: "whole" } });
      expect(await markUnfinishedInterrupted({ db: t.db })).toBeGreaterThanOrEqual(1);
      const detail = await getChat({ db: t.db, ownerId: "dave", id: chat.id });
      expect(detail!.generations.map((g) => [g.status, g.output])).toEqual([
        ["interrupted", "half an ans"],
        ["done", "whole"],
      ]);
    });
  });
}
