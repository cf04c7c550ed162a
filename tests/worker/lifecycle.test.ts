/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are untyped JSON checked field by field */
/**
 * The worker's life and limits: the bundled demo served by default as `loraland-mini` (greedy ids
 * equal the demo's references), --help and bad options, /health 503 while loading (in process,
 * with the real Engine set later), the bounded queue (429 + Retry-After), a client that
 * disconnects mid-stream (cancelled, KV blocks back to 0), and SIGTERM (in-flight stream ends with
 * a final event, exit 0).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { ROOT, FIXTURES, metric, postJson, startWorker, type Worker } from "./worker-helpers";
import { createWorkerServer, WorkerState } from "../../inference/server/app";
import { AdapterRoots } from "../../inference/adapters/local";
import { Engine } from "../../inference/engine/engine";

const demo = JSON.parse(fs.readFileSync(path.join(ROOT, "data/demo/expected.json"), "utf8"));

/** open a stream and read `n` events, leaving the rest unread; returns the controller and reader */
async function openStream(url: string, body: unknown, n: number) {
  const ac = new AbortController();
  const res = await fetch(`${url}/generate_stream`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: ac.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  const events: any[] = [];
  while (events.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    events.push(JSON.parse(value.data));
  }
  const rest = async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return events;
      events.push(JSON.parse(value.data));
    }
  };
  return { ac, events, rest };
}

/** Waits for `cond` (a state the worker reaches, not a speed: a loaded machine may take long). */
async function until(cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const long = { inputs: "The licensee may copy", parameters: { max_new_tokens: 900, ignore_eos_token: true } };

describe("the bundled demo, served by default", () => {
  let w: Worker;
  beforeAll(async () => {
    w = await startWorker(["--max-running", "1", "--max-queue", "1", "--preload", "ner,sentiment"]);
  });
  afterAll(async () => {
    await w?.stop();
  });

  it("is loraland-mini with its nine adapters, and greedy runs equal the references", async () => {
    const info = await (await fetch(`${w.url}/info`)).json();
    expect(info).toMatchObject({ model_id: "loraland-mini", architecture: "MistralForCausalLM", model_dtype: "bfloat16", state: "ready" });
    expect(info.adapters.total).toBe(9);
    expect(info.adapters.resident).toBe(2); // --preload ner,sentiment
    expect(w.logs()).toMatch(/"event":"adapter_preloaded","id":"ner"/);
    for (const [adapter, run] of Object.entries(demo.runs) as [string, { greedy: number[]; greedy_text: string }[]][]) {
      const r = await postJson(`${w.url}/generate`, { inputs: demo.prompts[0].text, parameters: { adapter_id: adapter === "__base__" ? null : adapter, max_new_tokens: run[0].greedy.length, details: true } });
      expect(r.body.details.tokens.map((t: { id: number }) => t.id), adapter).toEqual(run[0].greedy);
      expect(r.body.generated_text.trim()).toBe(run[0].greedy_text.trim());
    }
  });

  it("a full queue answers 429 with Retry-After; a disconnecting client frees its KV blocks", async () => {
    const a = await openStream(w.url, long, 3);
    const bPromise = openStream(w.url, { ...long, parameters: { ...long.parameters, adapter_id: "sql" } }, 1).catch(() => null);
    await until(async () => (await metric(w.url, "worker_requests_in_flight")) === 2);
    const c = await postJson(`${w.url}/generate`, { inputs: "hi", parameters: { max_new_tokens: 2 } });
    expect(c.status).toBe(429);
    expect(c.body.error_type).toBe("overloaded");
    expect(Number(c.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const oa = await postJson(`${w.url}/v1/completions`, { prompt: "hi", max_tokens: 2 });
    expect(oa.status).toBe(429);
    expect(oa.body.error.type).toBe("rate_limit_error");

    expect(await metric(w.url, "worker_kv_blocks_used")).toBeGreaterThan(0);
    const cancelledBefore = await metric(w.url, "worker_requests_cancelled_total");
    a.ac.abort();
    const b = await bPromise; // B starts once A's place is free
    expect(b).not.toBeNull();
    b!.ac.abort();
    await until(async () => (await metric(w.url, "worker_requests_in_flight")) === 0 && (await metric(w.url, "worker_kv_blocks_used")) === 0);
    expect(await metric(w.url, "worker_requests_cancelled_total")).toBe(cancelledBefore + 2);
    expect(await metric(w.url, "worker_running_requests")).toBe(0);
    // and the worker still serves
    const ok = await postJson(`${w.url}/generate`, { inputs: "hi", parameters: { max_new_tokens: 2 } });
    expect(ok.status).toBe(200);
  });
});

describe("SIGTERM", () => {
  it("ends an in-flight stream with a final event and exits 0", async () => {
    const w = await startWorker([]);
    try {
      const s = await openStream(w.url, long, 5);
      w.child.kill("SIGTERM");
      const events = await s.rest();
      const last = events.at(-1);
      expect(last.error_type).toBe("unavailable");
      expect(last.error).toMatch(/shutting down/);
      expect(events.length).toBeLessThan(900);
      expect(await w.exited).toBe(0);
      expect(w.logs()).toMatch(/"event":"stopped"/);
      await expect(fetch(`${w.url}/health`)).rejects.toThrow();
    } finally {
      await w.stop();
    }
  });
});

describe("CLI", () => {
  it("--help lists every option with its default; a bad option exits 2", () => {
    const tsx = path.join(ROOT, "node_modules/tsx/dist/cli.mjs");
    const help = spawnSync(process.execPath, [tsx, "inference/cli/main.ts", "serve", "--help"], { cwd: ROOT, encoding: "utf8" });
    expect(help.status).toBe(0);
    for (const opt of ["--model", "--adapters", "--port", "--host", "--model-id", "--slots", "--memory-budget-mb", "--max-batch-tokens", "--max-queue", "--max-context", "--max-new-tokens", "--preload", "--hub-cache", "--adapter-root"]) {
      expect(help.stdout).toContain(opt);
    }
    expect(help.stdout).toContain("(default: 8081)");
    const bad = spawnSync(process.execPath, [tsx, "inference/cli/main.ts", "serve", "--slots", "many"], { cwd: ROOT, encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--slots/);
  });
});

describe("while the model loads (in process)", () => {
  it("/health is 503 and /info says loading until the engine is set; then 200", async () => {
    const fx = path.join(FIXTURES, "tiny-llama");
    const state = new WorkerState({
      modelId: "tiny", modelDir: path.join(fx, "base"), maxNewTokens: 16, maxContext: 10_000, maxRunning: 4, maxQueue: 4,
      maxBodyBytes: 65536, roots: new AdapterRoots([path.join(fx, "adapters")]), hub: { endpoint: "http://127.0.0.1:1", cacheDir: "/nonexistent" }, version: "test",
    });
    const server = createWorkerServer(state);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${url}/health`)).status).toBe(503);
      expect(await (await fetch(`${url}/info`)).json()).toMatchObject({ model_id: "tiny", state: "loading", ready: false });
      const early = await postJson(`${url}/generate`, { inputs: "hi" });
      expect([early.status, early.body.error_type]).toEqual([503, "unavailable"]);
      expect(early.headers.get("retry-after")).toBe("2");
      expect(await metric(url, "worker_model_loaded")).toBe(0);

      const engine = await Engine.create({ modelDir: path.join(fx, "base"), log: null });
      state.setEngine(engine);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await (await fetch(`${url}/info`)).json()).max_total_tokens).toBe(256);
      const r = await postJson(`${url}/generate`, { inputs: "hi", parameters: { max_new_tokens: 3 } });
      expect(r.status).toBe(200);
      await engine.shutdown();
    } finally {
      server.close();
    }
  });
});
