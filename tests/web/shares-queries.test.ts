import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChat, startTurn, updateGeneration, ChatNotFoundError } from "../../server/db-queries/chats";
import { createShare, getShare, isSlug, listShares, newSlug, revokeShare } from "../../server/db-queries/shares";
import { databases, type TestDb } from "./chats-harness";

const params = { max_new_tokens: 8, temperature: 0 };

describe("share slugs", () => {
  it("are 12 base62 characters from a CSPRNG, all different", () => {
    const slugs = new Set(Array.from({ length: 2000 }, () => newSlug()));
    expect(slugs.size).toBe(2000);
    for (const s of slugs) expect(s).toMatch(/^[0-9A-Za-z]{12}$/);
    // every base62 character shows up (not a hex or lowercase-only alphabet)
    expect(new Set([...slugs].join("")).size).toBe(62);
    expect(isSlug("abc")).toBe(false);
    expect(isSlug("../../etc/passwd")).toBe(false);
  });
});

for (const { name, open } of databases) {
  describe(`share queries on ${name}`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await open();
    });
    afterAll(async () => {
      await t?.close();
    });

    it("freezes a comparison: later edits to the chat do not change the snapshot; revoke gives 'revoked'", async () => {
      const chat = await createChat({
        db: t.db, ownerId: "alice", kind: "compare", title: "Spam or ham",
        settings: { adapters: ["spam", null], mode: "template", inputs: { subject: "Win" }, params },
      });
      const { generations } = await startTurn({
        db: t.db, ownerId: "alice", chatId: chat.id, content: "Subject: Win", inputs: { subject: "Win" }, mode: "template",
        panes: [{ adapterId: "spam", prompt: "Subject: Win" }, { adapterId: null, prompt: "Subject: Win" }], params,
      });
      await updateGeneration({ db: t.db, id: generations[0]!.id, patch: { status: "done", output: " spam", tokensOut: 2, ttftMs: 9 } });
      await updateGeneration({ db: t.db, id: generations[1]!.id, patch: { status: "error", error: "worker down" } });

      const share = await createShare({ db: t.db, ownerId: "alice", chatId: chat.id });
      expect(isSlug(share.slug)).toBe(true);
      expect(share.title).toBe("Spam or ham");
      expect(share.description).toContain("spam vs base model");

      await updateGeneration({ db: t.db, id: generations[0]!.id, patch: { output: "changed later" } });
      const found = await getShare({ db: t.db, slug: share.slug });
      expect(found.state).toBe("ok");
      if (found.state !== "ok") return;
      expect(found.share.snapshot.turns).toEqual([
        {
          prompt: "Subject: Win",
          inputs: { subject: "Win" },
          panes: [
            expect.objectContaining({ adapterId: "spam", output: " spam", status: "done", stats: expect.objectContaining({ tokensOut: 2, ttftMs: 9 }) }),
            expect.objectContaining({ adapterId: null, output: "", status: "error", error: "worker down" }),
          ],
        },
      ]);
      expect(found.share.snapshot.settings.adapters).toEqual(["spam", null]);

      expect(await revokeShare({ db: t.db, ownerId: "mallory", slug: share.slug })).toBe(false);
      expect((await getShare({ db: t.db, slug: share.slug })).state).toBe("ok");
      expect(await revokeShare({ db: t.db, ownerId: "alice", slug: share.slug })).toBe(true);
      expect((await getShare({ db: t.db, slug: share.slug })).state).toBe("revoked");
      expect((await getShare({ db: t.db, slug: newSlug() })).state).toBe("missing");
      expect((await listShares({ db: t.db, ownerId: "alice", chatId: chat.id })).map((s) => s.slug)).toEqual([share.slug]);
    });

    it("cannot share someone else's chat", async () => {
      const chat = await createChat({ db: t.db, ownerId: "bob", kind: "run", title: "b", settings: { adapters: [null], mode: "raw", params } });
      await expect(createShare({ db: t.db, ownerId: "alice", chatId: chat.id })).rejects.toBeInstanceOf(ChatNotFoundError);
    });
  });
}
