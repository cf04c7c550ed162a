/**
 * Stop keeps what the browser showed: the stored output is the first `shown` tokens (never more
 * than were produced), nothing after the stop enters the run's log, and a stop that loses the race
 * with the stream's own end still rewrites the row as stopped. Against the LoRAX stand-in
 * (bench/web/fake-worker) for exact token streams.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeTokens, startFakeWorker, type FakeWorker } from "../../bench/web/fake-worker";
import { createChat, getChat, startTurn, updateGeneration } from "../../server/db-queries/chats";
import { StreamHub, type RunChunk } from "../../server/inference/stream-hub";
import { openPglite, type TestDb } from "./chats-harness";

let worker: FakeWorker;
let t: TestDb;
beforeAll(async () => {
  worker = await startFakeWorker({ delayMs: 5 });
  t = await openPglite();
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

const hub = () => new StreamHub({ target: () => ({ baseUrl: worker.url, protocol: "lorax" }), persist: (id, patch) => updateGeneration({ db: t.db, id, patch }), flushMs: 10 });

async function newTurn(maxNew: number) {
  const params = { max_new_tokens: maxNew, temperature: 0 };
  const chat = await createChat({ db: t.db, ownerId: "o", kind: "run", title: "t", settings: { adapters: ["spam"], mode: "raw", params } });
  const { generations } = await startTurn({
    db: t.db, ownerId: "o", chatId: chat.id, content: "hi", inputs: null, mode: "raw",
    panes: [{ adapterId: "spam", prompt: "hi" }], params,
  });
  return { chat, panes: generations.map((g) => ({ generationId: g.id, request: { prompt: "hi", adapterId: g.adapterId, params } })) };
}

const tokenCount = (events: RunChunk[]) => events.filter((c) => c.kind === "token").length;
type End = Extract<RunChunk, { kind: "end" }>;

describe("stop keeps what was shown", () => {
  it("cuts the stored output at the browser's count, and no token enters the log after the stop", async () => {
    const h = hub();
    const { chat, panes } = await newTurn(2000);
    const runId = h.start("o", panes);
    const events: RunChunk[] = [];
    let atStop = -1;
    for await (const [, c] of h.subscribe(runId, "o", 0)) {
      events.push(c);
      if (atStop < 0 && tokenCount(events) === 6) {
        h.stop(runId, "o", 0, [2]);
        atStop = events.length;
      }
    }
    const end = events.at(-1) as End;
    expect(end.kind).toBe("end");
    expect(end.status).toBe("stopped");
    expect(end.output).toBe(fakeTokens("spam", 2).join(""));
    expect(end.stats.tokensOut).toBe(2);
    // whatever was already in the log when the subscriber saw token 6 (the stop is synchronous)
    expect(tokenCount(events)).toBeLessThan(50);
    const g = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!;
    expect([g.status, g.output, g.tokensOut, g.tokens?.length]).toEqual(["stopped", fakeTokens("spam", 2).join(""), 2, 2]);
  });

  it("a count past what was produced keeps what was produced", async () => {
    const h = hub();
    const { chat, panes } = await newTurn(2000);
    const runId = h.start("o", panes);
    let n = 0;
    for await (const [, c] of h.subscribe(runId, "o", 0)) if (c.kind === "token" && ++n === 3) h.stop(runId, "o", undefined, [10_000]);
    const g = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!;
    expect(g.status).toBe("stopped");
    expect(g.tokensOut).toBeGreaterThanOrEqual(3);
    expect(g.output).toBe(fakeTokens("spam", g.tokensOut!).join(""));
  });

  it("a stop that arrives after the stream ended on its own rewrites the row as stopped at the shown count", async () => {
    const h = hub();
    const { chat, panes } = await newTurn(8);
    const runId = h.start("o", panes);
    for await (const _ of h.subscribe(runId, "o", 0));
    expect((await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!.status).toBe("done");
    expect(h.stop(runId, "o", 0, [3])).toBe(true);
    await expect.poll(async () => (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!.status).toBe("stopped");
    const g = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!;
    expect([g.output, g.tokensOut, g.finishReason]).toEqual([fakeTokens("spam", 3).join(""), 3, null]);
  });
});
