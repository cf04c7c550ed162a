/**
 * The published LoRA Land adapters on our worker, end to end without the network: a tiny
 * synthetic Mistral-shaped base (bench/engine/synthetic.ts) served under the model id
 * mistralai/Mistral-7B-v0.1, and r=8 q/v adapters shaped for it served as predibase/<task> by the
 * local Hub look-alike (HF_ENDPOINT). The seeded catalog shows every LoRA Land adapter with a
 * Hub repo as runnable (both protocols) with its prompt template; the first run registers
 * predibase/<task> from the Hub through the worker (generate.start, what "Try it" leads to); the
 * adapter then answers, and differs from the base. A repo the catalog does not list is not fetched.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeAdapter, writeBaseModel, type SyntheticShape } from "../../bench/engine/synthetic";
import { seedCatalog } from "../../db/seed";
import { parseEnv } from "../../server/env";
import { ensureCatalogHubAdapters } from "../../server/inference/hub-adapters";
import { streamGeneration, type StreamEvent } from "../../server/inference/stream";
import { createCaller } from "../../server/root";
import { generateRouter, setGenerateLimits } from "../../server/routers/generate";
import { OwnerLimits } from "../../server/limits";
import type { RunChunk } from "../../server/inference/stream-hub";
import { createCallerFactory, createTRPCContext, createTRPCRouter } from "../../server/trpc";
import { startHubServer, type HubServer } from "../worker/hub-server";
import { ROOT, startWorker, type Worker } from "../worker/worker-helpers";
import { openMigratedPglite, type TestDatabase } from "./db-harness";

const MISTRAL = "mistralai/Mistral-7B-v0.1";
/** Mistral's layout (GQA, SwiGLU, untied head) at a test's size */
const TINY: SyntheticShape = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 160, vocab: 600, ropeTheta: 10000, maxPositions: 2048 };
const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, "data/catalog/lora-land-tasks.json"), "utf8")) as { dataset: string; hf_adapter_repo: string | null }[];
const repos = tasks.map((t) => t.hf_adapter_repo).filter((r): r is string => !!r);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lora-land-hub-"));
let hub: HubServer;
let worker: Worker;
let h: TestDatabase;

const envFor = (protocol: "lorax" | "openai") => parseEnv({ INFERENCE_URL: worker.url, INFERENCE_PROTOCOL: protocol });
const callerFor = async (protocol: "lorax" | "openai") => createCaller(await createTRPCContext({ headers: new Headers(), db: h.db, env: envFor(protocol) }));

async function text(events: AsyncIterable<StreamEvent>): Promise<string> {
  let out: string | null = null;
  for await (const e of events) if (e.type === "done") out = e.generatedText;
  if (out === null) throw new Error("the stream ended without a done event");
  return out;
}

beforeAll(async () => {
  writeBaseModel(path.join(tmp, "base"), TINY, "tiny-mistral-7b-shape");
  const served: Record<string, { dir: string }> = {};
  for (const repo of repos) {
    const dir = path.join(tmp, "hub", repo);
    writeAdapter(dir, TINY, { name: repo, r: 8, alpha: 16, targets: ["q_proj", "v_proj"] }, MISTRAL);
    served[repo] = { dir };
  }
  fs.mkdirSync(path.join(tmp, "local-adapters"));
  hub = await startHubServer(served, "unused");
  worker = await startWorker(["--model", path.join(tmp, "base"), "--model-id", MISTRAL, "--adapters", path.join(tmp, "local-adapters"), "--backend", "reference"], {
    env: { HF_ENDPOINT: hub.url, HF_TOKEN: "", DATA_DIR: path.join(tmp, "data") },
  });
  h = await openMigratedPglite();
  await seedCatalog(h.db, { root: ROOT });
}, 240_000);
afterAll(async () => {
  await worker?.stop();
  await hub?.close();
  await h?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("LoRA Land adapters on a Mistral-7B-shaped base", () => {
  it.each(["lorax", "openai"] as const)("every catalog LoRA Land adapter with a Hub repo is runnable (%s protocol), with its prompt template", async (protocol) => {
    const c = await callerFor(protocol);
    const { worker: w, adapters } = await c.catalog.list();
    expect(w).toMatchObject({ online: true, ready: true, modelId: MISTRAL });
    const loraLand = adapters.filter((a) => a.collection === "lora-land");
    expect(loraLand.length).toBe(27);
    const published = loraLand.filter((a) => a.hfRepo);
    expect(published.length).toBe(repos.length);
    for (const a of published) expect(a.run, a.slug).toMatchObject({ runnable: true, state: "runnable" });
    const conll = await c.catalog.bySlug({ slug: loraLand.find((a) => a.hfRepo === "predibase/conllpp")!.slug });
    // the playground fills this template ("Try it" opens it with the adapter chosen)
    expect(conll.promptTemplate).toContain("Named Entity Recognition");
    expect(conll.promptTemplate).toContain("{input}");
  });

  it("the first run registers predibase/<task> from the Hub through the worker; it answers and differs from the base", async () => {
    const env = envFor("lorax");
    const repo = "predibase/conllpp";
    expect(await ensureCatalogHubAdapters(h.db, env, [repo, null, "conllpp"])).toEqual([repo]);
    expect(hub.hits.some((x) => x.startsWith(`GET /${repo}/resolve/`) && x.includes("adapter_model.safetensors"))).toBe(true);
    const listed = (await (await fetch(`${worker.url}/adapters`)).json()) as { adapters?: { id: string; source: string }[] } | { id: string; source: string }[];
    const ids = (Array.isArray(listed) ? listed : listed.adapters ?? []).map((a) => a.id);
    expect(ids).toContain(repo);
    // already there: not fetched again
    const hits = hub.hits.length;
    expect(await ensureCatalogHubAdapters(h.db, env, [repo])).toEqual([]);
    expect(hub.hits.length).toBe(hits);

    const c = await callerFor("lorax");
    const slug = (await c.catalog.list()).adapters.find((a) => a.hfRepo === repo)!.slug;
    expect((await c.catalog.bySlug({ slug })).run.reason).toMatch(/^On this worker/);

    const target = { baseUrl: worker.url, protocol: "lorax" as const };
    const prompt = "Your task is a Named Entity Recognition (NER) task.\n\nInput: EU rejects German call to boycott British lamb . Output: ";
    const params = { max_new_tokens: 12, temperature: 0, ignore_eos: true };
    const tuned = await text(streamGeneration(target, { prompt, adapterId: repo, params }));
    const base = await text(streamGeneration(target, { prompt, adapterId: null, params }));
    expect(tuned.length).toBeGreaterThan(0);
    expect(tuned).not.toBe(base);
  });

  it("a Hub repo the catalog does not list is not fetched", async () => {
    const hits = hub.hits.length;
    expect(await ensureCatalogHubAdapters(h.db, envFor("lorax"), ["someone/not-in-catalog"])).toEqual([]);
    expect(hub.hits.length).toBe(hits);
  });
});

describe("Try it", () => {
  it("a playground run on predibase/jigsaw (not on the worker yet) registers it from the Hub through the worker and streams its answer", { timeout: 120_000 }, async () => {
    setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
    const caller = createCallerFactory(createTRPCRouter({ generate: generateRouter }))({
      db: h.db, env: envFor("lorax"), ownerId: randomUUID(), headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }),
    });
    const repo = "predibase/jigsaw";
    const before = (await (await fetch(`${worker.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(before.data.map((m) => m.id)).not.toContain(repo);
    const started = await caller.generate.start({ mode: "raw", adapters: [repo], prompt: "Is this comment toxic? You are great.", params: { max_new_tokens: 6, temperature: 0, ignore_eos: true } });
    const events: RunChunk[] = [];
    for await (const e of await caller.generate.stream({ runId: started.runId })) events.push((e as unknown as [string, RunChunk])[1]);
    const tokens = events.filter((e) => e.kind === "token");
    expect(tokens.length, JSON.stringify(events.slice(-3))).toBe(6);
    const end = events.find((e) => e.kind === "end");
    expect(end && end.kind === "end" ? [end.status, end.error] : null).toEqual(["done", null]);
    expect(hub.hits.some((x) => x.startsWith(`GET /${repo}/resolve/`))).toBe(true);
    const after = (await (await fetch(`${worker.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(after.data.map((m) => m.id)).toContain(repo);
  });
});
