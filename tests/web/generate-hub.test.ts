/**
 * The stream hub between worker and browser: ordered relay, resume from an index, stop, client
 * gone, worker errors, persistence. Runs against the LoRAX-protocol stand-in (bench/web/fake-worker)
 * for exact, timing-independent token streams; generate-worker.test.ts runs the real worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeTokens, startFakeWorker, type FakeWorker } from "../../bench/web/fake-worker";
import { createChat, getChat, startTurn, updateGeneration } from "../../server/db-queries/chats";
import { StreamHub, type RunChunk } from "../../server/inference/stream-hub";
import { OwnerLimits } from "../../server/limits";
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

function hub(opts: { graceMs?: number; url?: string } = {}) {
  return new StreamHub({
    target: () => ({ baseUrl: opts.url ?? worker.url, protocol: "lorax" }),
    persist: (id, patch) => updateGeneration({ db: t.db, id, patch }),
    graceMs: opts.graceMs ?? 5_000,
    flushMs: 10,
  });
}

async function newTurn(adapters: (string | null)[], prompt = "hello there") {
  const params = { max_new_tokens: 12, temperature: 0 };
  const chat = await createChat({ db: t.db, ownerId: "o", kind: "compare", title: "t", settings: { adapters, mode: "raw", params } });
  const { generations } = await startTurn({
    db: t.db, ownerId: "o", chatId: chat.id, content: prompt, inputs: null, mode: "raw",
    panes: adapters.map((a) => ({ adapterId: a, prompt })), params,
  });
  return { chat, panes: generations.map((g) => ({ generationId: g.id, request: { prompt, adapterId: g.adapterId, params } })) };
}

async function collect(it: AsyncIterable<[number, RunChunk]>, limit = Infinity) {
  const out: [number, RunChunk][] = [];
  for await (const e of it) {
    out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}

const texts = (events: [number, RunChunk][], pane: number) =>
  events.flatMap(([, c]) => (c.kind === "token" && c.pane === pane && !c.special ? [c.text] : []));

describe("stream hub", () => {
  it("relays every pane's tokens in order, measures them, and stores the outputs", async () => {
    const h = hub();
    const { chat, panes } = await newTurn(["spam", null]);
    const runId = h.start("o", panes);
    const events = await collect(h.subscribe(runId, "o", 0));
    expect(events.map(([i]) => i)).toEqual(events.map((_, k) => k));
    expect(texts(events, 0)).toEqual(fakeTokens("spam", 12));
    expect(texts(events, 1)).toEqual(fakeTokens(null, 12));
    const ends = events.flatMap(([, c]) => (c.kind === "end" ? [c] : []));
    expect(ends.map((e) => [e.pane, e.status, e.finishReason])).toEqual(expect.arrayContaining([[0, "done", "eos_token"], [1, "done", "eos_token"]]));
    for (const e of ends) {
      expect(e.stats.ttftMs).toBeGreaterThan(0);
      expect(e.stats.tokensOut).toBe(13); // 12 words + EOS
      expect(e.stats.tokensPerSecond).toBeGreaterThan(0);
      expect(e.stats.tokensIn).toBe(3);
    }
    const stored = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations;
    expect(stored.map((g) => [g.status, g.output, g.finishReason, g.tokensOut])).toEqual([
      ["done", fakeTokens("spam", 12).join(""), "eos_token", 13],
      ["done", fakeTokens(null, 12).join(""), "eos_token", 13],
    ]);
    // stored as float4: ~7 significant digits
    expect(stored[0]!.ttftMs).toBeCloseTo(ends.find((e) => e.pane === 0)!.stats.ttftMs!, 1);
  });

  it("a subscriber that connects before its run starts (browser-chosen id) gets every event; others' and unknown runs are refused", async () => {
    const h = hub();
    const { panes } = await newTurn(["sql"]);
    const runId = "6f1c2b8e-4a3d-4c5e-9f10-1234567890ab";
    const early = h.awaitRun(runId, "o", 5_000);
    const stranger = h.awaitRun(runId, "someone-else", 5_000);
    h.start("o", panes, Promise.resolve(), runId);
    expect(await early).toBe(true);
    expect(await stranger).toBe(false);
    const events = await collect(h.subscribe(runId, "o", 0));
    expect(events.map(([i]) => i)).toEqual(events.map((_, k) => k));
    expect(texts(events, 0)).toEqual(fakeTokens("sql", 12));
    // the id cannot be taken twice
    expect(() => h.start("o", panes, Promise.resolve(), runId)).toThrow(/already in use/);
    // a run that never starts: false after the wait (or at once when the subscriber leaves)
    expect(await h.awaitRun("00000000-0000-4000-8000-000000000000", "o", 20)).toBe(false);
    const ac = new AbortController();
    const gone = h.awaitRun("00000000-0000-4000-8000-000000000001", "o", 60_000, ac.signal);
    ac.abort();
    expect(await gone).toBe(false);
  });

  it("a dropped subscription resumes from the next index: nothing lost, nothing repeated", async () => {
    const h = hub();
    const { panes } = await newTurn(["sql"]);
    const runId = h.start("o", panes);
    const ac = new AbortController();
    const first = await collect(h.subscribe(runId, "o", 0, ac.signal), 6);
    ac.abort();
    const lastId = first.at(-1)![0];
    const rest = await collect(h.subscribe(runId, "o", lastId + 1));
    const all = [...first, ...rest];
    expect(all.map(([i]) => i)).toEqual(all.map((_, k) => k));
    expect(texts(all, 0)).toEqual(fakeTokens("sql", 12));
    // and a second full replay is identical
    const replay = await collect(h.subscribe(runId, "o", 0));
    expect(replay).toEqual(all);
  });

  it("stop ends one pane as stopped with its partial output while the other finishes", async () => {
    const h = hub();
    const { chat, panes } = await newTurn(["spam", null]);
    panes[0]!.request.params = { ...panes[0]!.request.params, max_new_tokens: 400 };
    const runId = h.start("o", panes);
    const events: [number, RunChunk][] = [];
    for await (const e of h.subscribe(runId, "o", 0)) {
      events.push(e);
      if (texts(events, 0).length === 3) h.stop(runId, "o", 0);
    }
    const end0 = events.find(([, c]) => c.kind === "end" && c.pane === 0)![1] as Extract<RunChunk, { kind: "end" }>;
    expect(end0.status).toBe("stopped");
    expect(texts(events, 0).length).toBeLessThan(20);
    expect(end0.output).toBe(texts(events, 0).join(""));
    const stored = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations;
    expect(stored.map((g) => g.status)).toEqual(["stopped", "done"]);
    expect(stored[0]!.output).toBe(end0.output);
  });

  it("when the client goes away and does not come back, the stream is cut and kept as interrupted", async () => {
    const h = hub({ graceMs: 50 });
    const { chat, panes } = await newTurn(["ner"]);
    panes[0]!.request.params = { ...panes[0]!.request.params, max_new_tokens: 400 };
    const runId = h.start("o", panes);
    const ac = new AbortController();
    await collect(h.subscribe(runId, "o", 0, ac.signal), 5);
    ac.abort();
    // cut after the 50 ms grace; waited for, not timed (a busy machine delays the cut and its write)
    for (let i = 0; h.activeRuns() > 0 && i < 400; i++) await new Promise((r) => setTimeout(r, 25));
    expect(h.activeRuns()).toBe(0);
    const g = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!;
    expect(g.status).toBe("interrupted");
    expect(g.output.length).toBeGreaterThan(0);
    expect(g.tokensOut).toBeLessThan(100);
  });

  it("a failing pane shows why and the others go on; an unreachable worker says so", async () => {
    const h = hub();
    const { panes } = await newTurn(["spam", null]);
    panes[0]!.request.prompt = "FAIL";
    const events = await collect(h.subscribe(h.start("o", panes), "o", 0));
    const ends = Object.fromEntries(events.flatMap(([, c]) => (c.kind === "end" ? [[c.pane, c]] : [])));
    expect([ends[0].status, ends[0].errorStatus, ends[0].error]).toEqual(["error", 424, "generation failed on purpose"]);
    expect(ends[1].status).toBe("done");

    const down = hub({ url: "http://127.0.0.1:1" });
    const { panes: p2 } = await newTurn([null]);
    const ev2 = await collect(down.subscribe(down.start("o", p2), "o", 0));
    const end = ev2.at(-1)![1] as Extract<RunChunk, { kind: "end" }>;
    expect([end.status, end.errorStatus]).toEqual(["error", 0]);
    expect(end.error).toMatch(/unreachable/);
  });

  it("another owner cannot read or stop a run; leases are released when streams end", async () => {
    const h = hub();
    const limits = new OwnerLimits({ maxConcurrentStreams: 2, requestsPerMinute: 100 });
    const { panes } = await newTurn(["spam", null]);
    const leases = limits.admit("o", 2);
    const runId = h.start("o", panes.map((p, i) => ({ ...p, lease: leases[i] })));
    await expect(h.subscribe(runId, "eve", 0).next()).rejects.toThrow(/not found/);
    expect(h.stop(runId, "eve")).toBe(false);
    expect(limits.running("o")).toBe(2);
    await collect(h.subscribe(runId, "o", 0));
    expect(limits.running("o")).toBe(0);
  });

  it("when the history rows cannot be written, the streams end as errors saying why", async () => {
    const h = hub();
    const { panes } = await newTurn([null]);
    const events = await collect(h.subscribe(h.start("o", panes, Promise.reject(new Error("disk full"))), "o", 0));
    const end = events.at(-1)![1] as Extract<RunChunk, { kind: "end" }>;
    expect([end.status, end.error]).toEqual(["error", "could not save this run: disk full"]);
  });

  it("firstOutput waits for a pane's first token (not its queued status), gives up after its timeout, and answers at once for a run it does not hold", async () => {
    // a worker whose first token comes 300 ms after the request: the wait cannot end sooner
    const slow = await startFakeWorker({ delayMs: 300 });
    try {
      const h = hub({ url: slow.url });
      const { panes } = await newTurn([null]);
      const t0 = performance.now();
      const runId = h.start("o", panes);
      await h.firstOutput(runId, 60_000);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      const seen = await collect(h.subscribe(runId, "o", 0), 2);
      expect(seen.map(([, c]) => c.kind)).toEqual(["status", "status"]); // queued, then streaming with the token next
      h.stop(runId, "o");

      // no token within the timeout: it resolves anyway
      const late = await startFakeWorker({ delayMs: 30_000 });
      try {
        const h2 = hub({ url: late.url });
        const run2 = h2.start("o", (await newTurn([null])).panes);
        await h2.firstOutput(run2, 50);
        h2.stop(run2, "o");
      } finally {
        await late.close();
      }
      await h.firstOutput("not-a-run", 60_000);
    } finally {
      await slow.close();
    }
  });
});
