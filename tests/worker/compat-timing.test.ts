/* eslint-disable @typescript-eslint/no-explicit-any -- SSE payloads are untyped JSON */
/**
 * Tokens leave the worker when the engine produces them (issue 13, item 9): the worker's HTTP
 * server in this process over a real engine on the bundled demo model, whose loop an afterStep
 * hook holds after step i. While it is held, the client must already hold token i (no token is
 * kept back for the next step), and not token i + 1. The stream's headers carry the engine's
 * queue time and TTFT (queue < TTFT).
 */
import path from "node:path";
import type { AddressInfo } from "node:net";
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { createWorkerServer, WorkerState } from "../../inference/server/app";
import { AdapterRoots } from "../../inference/adapters/local";
import { Engine } from "../../inference/engine/engine";
import { ROOT } from "./worker-helpers";

const model = path.join(ROOT, "data/demo/base");
const PAUSE_AFTER = 3;

let engine: Engine;
let server: http.Server;
let url: string;
let holdArmed = false;
let held: { step: number; release: () => void } | null = null;
let heldSignal: () => void = () => {};

beforeAll(async () => {
  engine = await Engine.create({
    modelDir: model,
    log: null,
    afterStep: (step) => {
      if (!holdArmed || step !== PAUSE_AFTER) return;
      holdArmed = false;
      return new Promise<void>((release) => {
        held = { step, release };
        heldSignal();
      });
    },
  });
  const state = new WorkerState({
    modelId: "demo", modelDir: model, maxNewTokens: 32, maxContext: 512, maxRunning: 4, maxQueue: 4,
    maxBodyBytes: 65536, roots: new AdapterRoots([path.join(ROOT, "data/demo/adapters")]), hub: { endpoint: "http://127.0.0.1:1", cacheDir: "/nonexistent" }, version: "test",
  });
  state.setEngine(engine);
  server = createWorkerServer(state);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  held?.release();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await engine?.shutdown();
});

describe("tokens leave when produced", () => {
  it("while the engine is held after step i, the client holds token i and not i + 1; then the stream completes", async () => {
    const isHeld = new Promise<void>((r) => (heldSignal = r));
    holdArmed = true;
    const stepsBefore = engine.stats().steps;
    expect(stepsBefore).toBe(0); // a fresh engine: step n produces this request's token n
    const res = await fetch(`${url}/generate_stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: "Hello there, world", parameters: { max_new_tokens: 6, ignore_eos_token: true, details: true } }),
    });
    expect(res.status).toBe(200);
    const queue = Number(res.headers.get("x-queue-time"));
    const ttft = Number(res.headers.get("x-time-to-first-token"));
    expect(res.headers.has("x-queue-time") && res.headers.has("x-time-to-first-token")).toBe(true);
    expect(queue).toBeLessThanOrEqual(ttft);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    const events: any[] = [];
    const next = async () => {
      const r = await reader.read();
      if (!r.done) events.push(JSON.parse(r.value.data));
      return !r.done;
    };
    await isHeld;
    for (let i = 0; i < PAUSE_AFTER; i++) await next(); // arrives although the engine does not step
    expect(held!.step).toBe(PAUSE_AFTER);
    expect(engine.stats().tokensGenerated).toBe(PAUSE_AFTER);
    expect(events.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(events.every((e) => e.details === null)).toBe(true);
    // nothing more is on the wire while the engine is held: a read only settles after release
    let more = false;
    const pending = next().then((ok) => (more = ok));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toHaveLength(PAUSE_AFTER);
    held!.release();
    await pending;
    expect(more).toBe(true);
    while (await next());
    expect(events).toHaveLength(6);
    expect(events.at(-1).details.finish_reason).toBe("length");
    expect(events.slice(0, -1).every((e) => e.details === null)).toBe(true);
  });

  it("the engine marks the last token when it produces it and reports queue < TTFT on the first", async () => {
    const tokens: any[] = [];
    let done: any = null;
    for await (const ev of engine.generate({ prompt: "Hello there", maxNewTokens: 4, ignoreEos: true })) {
      if (ev.type === "token") tokens.push(ev);
      else if (ev.type === "done") done = ev;
    }
    expect(tokens.map((t) => t.last === true)).toEqual([false, false, false, true]);
    expect(tokens[0].timings.queueMs).toBeLessThan(tokens[0].timings.ttftMs);
    expect(tokens.slice(1).every((t) => t.timings === undefined)).toBe(true);
    expect(done.timings.queueMs).toBe(tokens[0].timings.queueMs);
    expect(done.timings.ttftMs).toBe(tokens[0].timings.ttftMs);
  });
});
