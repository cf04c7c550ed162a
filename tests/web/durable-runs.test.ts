/**
 * The rows of a run written in one statement (startRun) and recovery by instance lease, on the
 * project's real migrations: PGlite, and Postgres when DATABASE_URL is set.
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatMessages, chats, generations, webInstances } from "../../db/schema/chats";
import {
  ChatNotFoundError,
  getChat,
  recoverExpiredInstances,
  renewInstanceLease,
  runGenerations,
  startRun,
  updateGeneration,
} from "../../server/db-queries/chats";
import { drivers, type TestDatabase } from "./db-harness";

const params = { max_new_tokens: 8, temperature: 0 };

for (const driver of drivers) {
  describe(`runs on ${driver.name}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await driver.open();
    });
    afterAll(async () => {
      await t?.close();
    });

    const newRun = (ownerId: string, instanceId: string | null, panes = 2) => {
      const chatId = randomUUID();
      const runId = randomUUID();
      const ids = Array.from({ length: panes }, () => randomUUID());
      return {
        chatId,
        runId,
        ids,
        write: () =>
          startRun({
            db: t.db,
            ownerId,
            chat: { id: chatId, kind: panes > 1 ? "compare" : "run", title: "Hi", settings: { adapters: ids.map(() => null), mode: "raw", params } },
            content: "Hi there",
            inputs: { text: "x" },
            mode: "raw",
            panes: ids.map((id, i) => ({ id, adapterId: i === 0 ? null : "sql", prompt: `p${i}` })),
            params,
            runId,
            instanceId,
          }),
      };
    };

    it("writes the chat, its first turn and one queued generation per pane in one statement", async () => {
      const owner = randomUUID();
      const r = newRun(owner, "inst-1");
      expect(await r.write()).toEqual({ turn: 0 });
      const detail = await getChat({ db: t.db, ownerId: owner, id: r.chatId });
      expect(detail!.chat).toMatchObject({ kind: "compare", title: "Hi", settings: { adapters: [null, null], mode: "raw", params } });
      expect(detail!.messages.map((m) => [m.turn, m.role, m.content, m.inputs])).toEqual([[0, "user", "Hi there", { text: "x" }]]);
      expect(detail!.generations.map((g) => [g.id, g.pane, g.adapterId, g.prompt, g.status, g.params, g.runId, g.instanceId])).toEqual([
        [r.ids[0], 0, null, "p0", "queued", params, r.runId, "inst-1"],
        [r.ids[1], 1, "sql", "p1", "queued", params, r.runId, "inst-1"],
      ]);
      expect((await runGenerations({ db: t.db, ownerId: owner, runId: r.runId })).map((g) => g.id)).toEqual(r.ids);
      expect(await runGenerations({ db: t.db, ownerId: randomUUID(), runId: r.runId })).toEqual([]);
    });

    it("continues only the owner's chat, numbering turns one after another even when started together", async () => {
      const owner = randomUUID();
      const r = newRun(owner, null, 1);
      await r.write();
      const next = (ownerId: string) =>
        startRun({
          db: t.db,
          ownerId,
          chat: { continue: r.chatId },
          content: "and?",
          inputs: null,
          mode: "chat",
          panes: [{ id: randomUUID(), adapterId: null, prompt: "[]" }],
          params,
          runId: randomUUID(),
          instanceId: null,
        });
      await expect(next(randomUUID())).rejects.toBeInstanceOf(ChatNotFoundError);
      expect(await t.db.select().from(chatMessages).where(eq(chatMessages.chatId, r.chatId))).toHaveLength(1);
      const turns = await Promise.all([next(owner), next(owner), next(owner)]);
      expect(turns.map((x) => x.turn).sort()).toEqual([1, 2, 3]);
      expect(await t.db.select().from(generations).where(eq(generations.chatId, r.chatId))).toHaveLength(4);
    });

    it("a failed statement leaves nothing behind (a pane id already taken)", async () => {
      const owner = randomUUID();
      const r = newRun(owner, null, 1);
      await r.write();
      const again = newRun(owner, null, 1);
      again.ids[0] = r.ids[0]!;
      await expect(again.write()).rejects.toThrow();
      expect(await t.db.select().from(chats).where(eq(chats.id, again.chatId))).toEqual([]);
    });

    it("recovers only the runs of instances whose lease ran out, never a live one's", async () => {
      const live = `live-${randomUUID()}`;
      const dead = `dead-${randomUUID()}`;
      await renewInstanceLease({ db: t.db, id: live, ttlMs: 60_000 });
      await renewInstanceLease({ db: t.db, id: dead, ttlMs: 60_000 });
      await t.db.update(webInstances).set({ leaseUntil: new Date(Date.now() - 60_000) }).where(eq(webInstances.id, dead));
      const owner = randomUUID();
      const a = newRun(owner, live, 1);
      const b = newRun(owner, dead, 1);
      const c = newRun(owner, null, 1);
      for (const r of [a, b, c]) {
        await r.write();
        await updateGeneration({ db: t.db, id: r.ids[0]!, patch: { status: "streaming", output: "half" } });
      }
      expect(await recoverExpiredInstances({ db: t.db })).toBeGreaterThanOrEqual(2);
      const status = async (id: string) => (await t.db.select().from(generations).where(eq(generations.id, id)))[0]!;
      expect((await status(a.ids[0]!)).status).toBe("streaming");
      expect(await status(b.ids[0]!)).toMatchObject({ status: "interrupted", output: "half" });
      expect((await status(c.ids[0]!)).status).toBe("interrupted");
      expect((await t.db.select().from(webInstances).where(eq(webInstances.id, dead))).length).toBe(0);
      expect((await t.db.select().from(webInstances).where(eq(webInstances.id, live))).length).toBe(1);
    });
  });
}
