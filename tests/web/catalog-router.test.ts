/**
 * The catalog and status routers through createCaller on a real database, against worker-shaped
 * HTTP servers for each protocol the app speaks (LoRAX and vLLM cannot run here, and the decision
 * logic is ours): nothing listening, our worker's LoRAX routes (/adapters), a plain LoRAX (loads
 * any adapter on demand), and an OpenAI-compatible server (/v1/models). Runnable state is live:
 * changing what the worker serves changes the catalog without a restart.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedCatalog } from "../../db/seed";
import { parseEnv } from "../../server/env";
import { parsePrometheus, splitOpenAiModels } from "../../server/inference/client";
import { createCaller } from "../../server/root";
import { createTRPCContext } from "../../server/trpc";
import { freePort } from "../e2e/browser";
import { drivers, type TestDatabase } from "./db-harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DEMO = ["spam", "cmudict", "wordnet", "fortune_topic", "ner", "sql", "arithmetic", "sentiment", "e2e"];

interface FakeWorker {
  url: string;
  state: { modelId: string; adapters: { id: string; state: string; error?: string }[] | null; healthy: boolean; models?: string[]; tokens: number };
  close(): Promise<void>;
}

async function fakeWorker(state: FakeWorker["state"]): Promise<FakeWorker> {
  const server = http.createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === "/health") return json(state.healthy ? 200 : 503, {});
    if (req.url === "/info") return json(200, { model_id: state.modelId, backend: "cpu-native", model_dtype: "bfloat16", version: "test" });
    if (req.url === "/adapters" && state.adapters) return json(200, { adapters: state.adapters.map((a) => ({ source: "local", rank: 16, bytes: 1000, ...a })) });
    if (req.url === "/v1/models" && state.models) return json(200, { object: "list", data: state.models.map((id) => ({ id, object: "model" })) });
    if (req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(`# TYPE worker_generated_tokens_total counter\nworker_generated_tokens_total ${state.tokens}\nworker_queue_size 2\nprocess_resident_memory_bytes 1048576\n`);
    }
    json(404, { error: "not found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, close: () => new Promise((r) => server.close(() => r())) };
}

describe("worker status parsing", () => {
  it("parses Prometheus text with labels and skips comments", () => {
    expect(parsePrometheus('# HELP x\nreq_total{status="ok",route="/g"} 3\nbad line\nq 1.5e2\n')).toEqual([
      { name: "req_total", labels: { status: "ok", route: "/g" }, value: 3 },
      { name: "q", labels: {}, value: 150 },
    ]);
  });
  it("splits /v1/models into base model and adapters (vLLM parent field, else first = base)", () => {
    expect(splitOpenAiModels([{ id: "m" }, { id: "a", parent: "m" }, { id: "b", parent: "m" }])).toEqual({ base: "m", adapters: ["a", "b"] });
    expect(splitOpenAiModels([{ id: "loraland-mini" }, { id: "sql" }])).toEqual({ base: "loraland-mini", adapters: ["sql"] });
    expect(splitOpenAiModels([])).toEqual({ base: null, adapters: [] });
  });
});

describe.each(drivers)("catalog router on $name", ({ open }) => {
  let h: TestDatabase;
  beforeAll(async () => {
    h = await open();
    await seedCatalog(h.db, { root: ROOT });
  });
  afterAll(async () => {
    await h?.close();
  });

  const caller = async (vars: Record<string, string>) =>
    createCaller(await createTRPCContext({ headers: new Headers(), db: h.db, env: parseEnv(vars) }));

  it("lists every adapter, all offline when no worker answers", async () => {
    const c = await caller({ WORKER_PORT: String(await freePort()) });
    const { worker, adapters } = await c.catalog.list();
    expect(worker.online).toBe(false);
    expect(adapters).toHaveLength(27 + DEMO.length);
    expect(adapters.every((a) => !a.run.runnable && a.run.state === "offline")).toBe(true);
    const status = await c.status.worker();
    expect(status).toMatchObject({ online: false, ready: false, external: false, modelId: null });
    expect(status.error).toMatch(/no answer/);
    expect(await c.status.health()).toEqual({ online: false, ready: false, error: status.error, modelId: null });
  });

  it("bySlug: found with figures, NOT_FOUND and BAD_REQUEST otherwise", async () => {
    const c = await caller({ WORKER_PORT: String(await freePort()) });
    const a = await c.catalog.bySlug({ slug: "dbpedia" });
    expect(a.displayName).toBe("News Topic Identification (dbpedia)");
    expect(a.metrics.find((m) => m.modelLabel === "fine_tuned")!.value).toBeCloseTo(0.99);
    await expect(c.catalog.bySlug({ slug: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("nope") });
    await expect(c.catalog.bySlug({ slug: "" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("our worker (LoRAX + /adapters) serving loraland-mini: its adapters run, LoRA Land's say why not; live changes show up", async () => {
    const w = await fakeWorker({
      modelId: "loraland-mini",
      healthy: true,
      tokens: 100,
      adapters: [
        ...DEMO.filter((s) => s !== "e2e").map((id) => ({ id, state: id === "sql" ? "resident" : "disk" })),
        { id: "e2e", state: "failed", error: "bad shapes" },
      ],
    });
    try {
      const c = await caller({ INFERENCE_URL: w.url });
      const { worker, adapters } = await c.catalog.list();
      expect(worker).toMatchObject({ online: true, ready: true, modelId: "loraland-mini" });
      const by = Object.fromEntries(adapters.map((a) => [a.slug, a.run]));
      for (const s of DEMO.filter((x) => x !== "e2e")) expect(by[s]!.runnable).toBe(true);
      expect(by.sql!.workerState).toBe("resident");
      expect(by.e2e).toMatchObject({ runnable: false, state: "failed", reason: expect.stringContaining("bad shapes") });
      expect(by.conllpp).toMatchObject({ runnable: false, state: "other-base", reason: "Needs base model mistralai/Mistral-7B-v0.1; this worker serves loraland-mini." });
      // the cheap polled query says the same as the full list
      const live = await c.catalog.runStates();
      expect(live.worker).toEqual(worker);
      expect(live.states).toEqual(by);

      // the worker drops an adapter and starts loading: seen after the status cache (3 s) expires, no restart
      w.state.adapters = w.state.adapters!.filter((a) => a.id !== "spam");
      w.state.tokens = 400;
      await new Promise((r) => setTimeout(r, 3100));
      const after = Object.fromEntries((await c.catalog.list()).adapters.map((a) => [a.slug, a.run]));
      expect(after.spam).toMatchObject({ runnable: false, state: "missing" });
      const status = await c.status.worker();
      expect(status.load.queued).toBe(2);
      expect(status.load.residentMemoryBytes).toBe(1048576);
      expect(status.load.tokensPerSecond).toBeGreaterThan(0);
      expect(status.adapters).toHaveLength(DEMO.length - 1);

      w.state.healthy = false;
      await new Promise((r) => setTimeout(r, 3100));
      const loading = await c.catalog.list();
      expect(loading.worker).toMatchObject({ online: true, ready: false });
      expect(loading.adapters.every((a) => a.run.state === "loading")).toBe(true);
    } finally {
      await w.close();
    }
  });

  it("a LoRAX server with Mistral-7B: every LoRA Land adapter with a Hub repo runs (loaded on demand), the demo ones do not", async () => {
    const w = await fakeWorker({ modelId: "mistralai/Mistral-7B-v0.1", healthy: true, tokens: 0, adapters: null });
    try {
      const c = await caller({ INFERENCE_URL: w.url, INFERENCE_PROTOCOL: "lorax" });
      const { adapters } = await c.catalog.list();
      const lora = adapters.filter((a) => a.collection === "lora-land");
      expect(lora.filter((a) => a.run.runnable)).toHaveLength(27);
      expect(adapters.filter((a) => a.collection === "runs-here").every((a) => a.run.state === "other-base")).toBe(true);
    } finally {
      await w.close();
    }
  });

  it("an OpenAI-compatible server: /v1/models names the base model and the adapters", async () => {
    const w = await fakeWorker({ modelId: "ignored", healthy: true, tokens: 0, adapters: null, models: ["loraland-mini", "sql", "ner"] });
    // no /info model_id on a bare vLLM: emulate by asking only /v1/models
    w.state.modelId = "";
    try {
      const c = await caller({ INFERENCE_URL: w.url, INFERENCE_PROTOCOL: "openai" });
      const { worker, adapters } = await c.catalog.list();
      expect(worker.modelId).toBe("loraland-mini");
      const runnable = adapters.filter((a) => a.run.runnable).map((a) => a.slug).sort();
      expect(runnable).toEqual(["ner", "sql"]);
      expect(adapters.find((a) => a.slug === "spam")!.run.state).toBe("missing");
    } finally {
      await w.close();
    }
  });
});
