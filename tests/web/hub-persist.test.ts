/**
 * The stream hub's writes when the database is away: a run's final row is written once the
 * database is back (it would stay `queued` for good otherwise: the live server holds its lease,
 * so no recovery touches it). PGlite on disk, closed and reopened on the same directory; the
 * worker is the LoRAX-protocol stand-in (exact token streams).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeTokens, startFakeWorker, type FakeWorker } from "../../bench/web/fake-worker";
import { createChat, getChat, startTurn, updateGeneration, type GenerationPatch } from "../../server/db-queries/chats";
import { StreamHub, type RunChunk } from "../../server/inference/stream-hub";
import { openPglite, type TestDb } from "./chats-harness";

let worker: FakeWorker;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-hub-persist-"));
let t: TestDb;
beforeAll(async () => {
  worker = await startFakeWorker({ delayMs: 2 });
  t = await openPglite(dir);
});
afterAll(async () => {
  await worker?.close();
  await t?.close().catch(() => {});
  fs.rmSync(dir, { recursive: true, force: true });
});

const params = { max_new_tokens: 6, temperature: 0 };

async function drain(hub: StreamHub, runId: string): Promise<RunChunk[]> {
  const out: RunChunk[] = [];
  for await (const [, c] of hub.subscribe(runId, "o", 0)) out.push(c);
  return out;
}

describe("stream hub persistence", () => {
  it("writes a run's final row once the database is back", async () => {
    const chat = await createChat({ db: t.db, ownerId: "o", kind: "run", title: "t", settings: { adapters: ["spam"], mode: "raw", params } });
    const { generations } = await startTurn({ db: t.db, ownerId: "o", chatId: chat.id, content: "hi", inputs: null, mode: "raw", panes: [{ adapterId: "spam", prompt: "hi" }], params });
    const hub = new StreamHub({
      target: () => ({ baseUrl: worker.url, protocol: "lorax" }),
      // whatever handle is open now (the test closes and reopens the database)
      persist: (id, patch) => updateGeneration({ db: t.db, id, patch }),
      onError: () => {},
      flushMs: 10,
      retryMs: 50,
    });
    await t.close(); // the database goes away before the run
    const events = await drain(hub, hub.start("o", [{ generationId: generations[0]!.id, request: { prompt: "hi", adapterId: "spam", params } }]));
    expect(events.at(-1)).toMatchObject({ kind: "end", status: "done" });
    t = await openPglite(dir); // back
    await expect
      .poll(async () => (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations.map((g) => [g.status, g.output]))
      .toEqual([["done", fakeTokens("spam", 6).join("")]]);
  });

  it("a pane without a row (persist: false) writes nothing", async () => {
    const written: [string, GenerationPatch][] = [];
    const hub = new StreamHub({
      target: () => ({ baseUrl: worker.url, protocol: "lorax" }),
      persist: async (id, patch) => void written.push([id, patch]),
      flushMs: 10,
    });
    const runId = hub.start("o", [
      { generationId: "no-row", persist: false, request: { prompt: "hi", adapterId: null, params } },
      { generationId: "has-row", request: { prompt: "hi", adapterId: null, params } },
    ]);
    const events = await drain(hub, runId);
    expect(events.filter((c) => c.kind === "end")).toHaveLength(2);
    expect(written.map(([id]) => id)).not.toContain("no-row");
    expect(written.map(([id]) => id)).toContain("has-row");
  });
});
