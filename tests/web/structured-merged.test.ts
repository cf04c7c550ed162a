/**
 * Structured output and merged panes through the generate router, as the playground and the
 * compare page start them, against the REAL worker on the demo model: a structured run's answer
 * parses and matches the card's schema (checked with ajv, not the worker's own automaton) and the
 * schema is stored with the run; a merged pane runs the recipe (its answer is the worker's own
 * answer to that merged_adapters request) and its row is named by the recipe; bad schemas and bad
 * merges are a 400 naming the field before any worker call. Real database: PGlite, and Postgres
 * when DATABASE_URL is set.
 */
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { Ajv } from "ajv";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { parseEnv } from "../../server/env";
import type { RunChunk } from "../../server/inference/stream-hub";
import { chatsRouter } from "../../server/routers/chats";
import { generateRouter } from "../../server/routers/generate";
import { streamGeneration, WorkerError } from "../../server/inference/stream";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";
import { parseRecipe, type MergedAdapters } from "../../components/compare/merged-recipe";
import { schemaFromCard } from "../../components/playground/structured-output";
import { renderTemplate } from "../../components/playground/template";
import { realWorkerAvailable } from "../e2e/playground-harness";
import { spawnRealWorker, type RunningWorker } from "./generate-worker-process";

const createCaller = createCallerFactory(createTRPCRouter({ generate: generateRouter, chats: chatsRouter }));
type End = Extract<RunChunk, { kind: "end" }>;

interface Card {
  slug: string;
  prompt_template: string;
  metric: string;
}
const cards = JSON.parse(fs.readFileSync(path.resolve("data/demo/tasks/tasks.json"), "utf8")) as Card[];
const ner = cards.find((c) => c.slug === "ner")!;
// the catalog row's fields the playground derives the schema from (db/seed.ts writes them so)
const nerSchema = schemaFromCard({ expectedOutputFormat: "json", metricName: ner.metric, promptTemplate: ner.prompt_template })!;
const nerPrompt = renderTemplate(ner.prompt_template, { sentence: "Mara Quinn flew from Texas to meet Cobalt Systems." });

let w: RunningWorker;
let handle: DbHandle;
const caller = () =>
  createCaller({
    db: handle.db,
    env: parseEnv({ INFERENCE_URL: w.url }),
    ownerId: randomUUID(),
    headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }),
  });

async function ends(c: ReturnType<typeof caller>, runId: string): Promise<End[]> {
  const out: End[] = [];
  for await (const e of await c.generate.stream({ runId })) {
    const chunk = (e as unknown as [string, RunChunk])[1];
    if (chunk.kind === "end") out.push(chunk);
  }
  return out.sort((a, b) => a.pane - b.pane);
}

/** the worker's own answer to a LoRAX request (no web in between) */
async function workerAnswer(inputs: string, parameters: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${w.url}/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs, parameters }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { generated_text: string }).generated_text;
}

/** the BAD_REQUEST a start call fails with, and the fields its issues name */
async function badRequest(start: Promise<unknown>): Promise<{ message: string; fields: string[] }> {
  const e = await start.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(TRPCError);
  expect((e as TRPCError).code).toBe("BAD_REQUEST");
  const issues = ((e as TRPCError).cause as { issues?: { path: PropertyKey[] }[] } | undefined)?.issues ?? [];
  return { message: (e as TRPCError).message, fields: issues.map((i) => i.path.map(String).join(".")) };
}

if (!realWorkerAvailable()) process.stderr.write("\n!!!!! SKIPPING structured/merged router tests: inference/cli/serve.ts is missing !!!!!\n\n");

describe.runIf(realWorkerAvailable())("structured output and merged panes through the router (real worker, demo model)", () => {
  beforeAll(async () => {
    w = await spawnRealWorker(path.resolve("data/demo/base"), path.resolve("data/demo/adapters"));
    handle = await openDb(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL, max: 2 } : {});
    await migrateDb(handle);
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
    await handle?.close();
  });

  it("the card's schema: NER's entity keys, each a list of strings", () => {
    expect(nerSchema).toEqual({
      type: "object",
      properties: { person: { type: "array", items: { type: "string" } }, organization: { type: "array", items: { type: "string" } }, location: { type: "array", items: { type: "string" } } },
      required: ["person", "organization", "location"],
      additionalProperties: false,
    });
  });

  it("a structured run: every answer parses and matches the schema (the base model too, which writes no JSON unconstrained); the schema is stored with the run", async () => {
    const c = caller();
    const params = { max_new_tokens: 96, temperature: 0, response_format: { type: "json_object" as const, schema: nerSchema } };
    const started = await c.generate.start({ mode: "raw", adapters: ["ner", null], prompt: nerPrompt, params });
    const out = await ends(c, started.runId);
    const validate = new Ajv({ strict: true }).compile(nerSchema);
    for (const end of out) {
      expect([end.status, end.finishReason]).toEqual(["done", "eos_token"]);
      const value = JSON.parse(end.output) as unknown;
      expect(validate(value), `${end.output}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    // unconstrained, the base model's answer to the same prompt is not the schema's JSON
    const free = await workerAnswer(nerPrompt, { max_new_tokens: 96 });
    expect(() => validate(JSON.parse(free))).toThrow();
    const detail = await c.chats.get({ id: started.chatId });
    expect(detail.generations.map((g) => g.params.response_format)).toEqual([params.response_format, params.response_format]);
    expect(detail.chat.settings.params.response_format).toEqual(params.response_format);
  }, 120_000);

  it("over OpenAI's API the schema goes as response_format json_schema (/v1/completions; the demo model has no chat template); a merge is refused, not run on the base model", async () => {
    const target = { baseUrl: w.url, protocol: "openai" as const, baseModelId: "loraland-mini" };
    const validate = new Ajv({ strict: true }).compile(nerSchema);
    const params = { max_new_tokens: 96, temperature: 0, response_format: { type: "json_object" as const, schema: nerSchema } };
    let text = "";
    for await (const e of streamGeneration(target, { prompt: nerPrompt, adapterId: null, params })) if (e.type === "token") text += e.text;
    expect(validate(JSON.parse(text)), text).toBe(true);
    const merged = streamGeneration(target, { prompt: "p", adapterId: null, mergedAdapters: { ids: ["ner", "sql"], weights: [1, 1], merge_strategy: "linear" }, params: { max_new_tokens: 4 } });
    await expect(merged.next()).rejects.toThrow(WorkerError);
  }, 120_000);

  it("a merged pane runs its recipe next to the others; its row and the chat's settings carry the recipe's name", async () => {
    const c = caller();
    const linear: MergedAdapters = { ids: ["ner", "sql"], weights: [0.7, 0.3], merge_strategy: "linear" };
    const ties: MergedAdapters = { ids: ["ner", "sentiment"], weights: [1, 0.5], merge_strategy: "ties", density: 0.5, majority_sign_method: "total" };
    const params = { max_new_tokens: 24, temperature: 0 };
    const started = await c.generate.start({ mode: "raw", adapters: ["ner", { merged_adapters: linear }, { merged_adapters: ties }], prompt: nerPrompt, params });
    const out = await ends(c, started.runId);
    expect(out.map((e) => e.status)).toEqual(["done", "done", "done"]);
    // each merged pane's answer is the worker's own answer to that recipe
    expect(out[1]!.output).toBe(await workerAnswer(nerPrompt, { max_new_tokens: 24, merged_adapters: linear }));
    expect(out[2]!.output).toBe(await workerAnswer(nerPrompt, { max_new_tokens: 24, merged_adapters: ties }));
    const detail = await c.chats.get({ id: started.chatId });
    expect(detail.chat.kind).toBe("compare");
    const names = detail.generations.map((g) => g.adapterId);
    expect(names).toEqual(["ner", "merged:linear(ner*0.7+sql*0.3)", "merged:ties(ner*1+sentiment*0.5;density=0.5;sign=total)"]);
    expect(detail.chat.settings.adapters).toEqual(names);
    expect([parseRecipe(names[1]!), parseRecipe(names[2]!)]).toEqual([linear, ties]);
    expect(detail.generations.map((g) => g.status)).toEqual(["done", "done", "done"]);
  }, 120_000);

  it("a bad schema or a bad merge is a 400 naming the field", async () => {
    const c = caller();
    const start = (over: { params?: Record<string, unknown>; adapters?: unknown[] }) =>
      c.generate.start({ mode: "raw", prompt: "p", adapters: (over.adapters ?? [null]) as never, params: { max_new_tokens: 4, ...over.params } });
    const schemaWith = (schema: unknown) => ({ params: { response_format: { type: "json_object", schema } } });
    const pattern = await badRequest(start(schemaWith({ type: "object", properties: { name: { type: "string", pattern: "^A" } } })));
    expect(pattern.fields).toEqual(["params.response_format.schema"]);
    expect(pattern.message).toContain("response_format.schema: properties.name.pattern");
    expect((await badRequest(start(schemaWith([1, 2])))).fields).toEqual(["params.response_format.schema"]);
    expect((await badRequest(start({ params: { response_format: { type: "json_schema" } } }))).fields).toEqual(["params.response_format.type"]);
    const merge = (m: Record<string, unknown>) => ({ adapters: ["ner", { merged_adapters: { ids: ["ner", "sql"], weights: [0.5, 0.5], merge_strategy: "linear", ...m } }] });
    const cases: [Record<string, unknown>, string][] = [
      [{ ids: ["ner"], weights: [1] }, "adapters.1.merged_adapters.ids"],
      [{ ids: ["ner", "a", "b", "c", "d"], weights: [1, 1, 1, 1, 1] }, "adapters.1.merged_adapters.ids"],
      [{ ids: ["ner", "bad id!"] }, "adapters.1.merged_adapters.ids.1"],
      [{ weights: [0.5] }, "adapters.1.merged_adapters.weights"],
      [{ weights: [0.5, 1000] }, "adapters.1.merged_adapters.weights.1"],
      [{ merge_strategy: "svd" }, "adapters.1.merged_adapters.merge_strategy"],
      [{ merge_strategy: "ties" }, "adapters.1.merged_adapters.density"],
      [{ merge_strategy: "dare_linear", density: 1.5 }, "adapters.1.merged_adapters.density"],
      [{ majority_sign_method: "most" }, "adapters.1.merged_adapters.majority_sign_method"],
    ];
    for (const [m, field] of cases) expect((await badRequest(start(merge(m)))).fields, JSON.stringify(m)).toContain(field);
    // merging needs LoRAX's merged_adapters: not over OpenAI's API, not in chat mode
    const openai = createCaller({ db: handle.db, env: parseEnv({ INFERENCE_URL: w.url, INFERENCE_PROTOCOL: "openai" }), ownerId: randomUUID(), headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }) });
    const viaOpenai = await badRequest(openai.generate.start({ mode: "raw", prompt: "p", adapters: [{ merged_adapters: { ids: ["ner", "sql"], weights: [1, 1], merge_strategy: "linear" } }], params: { max_new_tokens: 4 } }));
    expect(viaOpenai.message).toMatch(/^adapters\.0\.merged_adapters: merging needs the LoRAX protocol/);
    // what only the worker knows (an adapter it does not serve) is its error, on the pane
    const c2 = caller();
    const started = await c2.generate.start({ mode: "raw", prompt: "p", adapters: [{ merged_adapters: { ids: ["ner", "nope"], weights: [1, 1], merge_strategy: "linear" } }], params: { max_new_tokens: 4 } });
    const [end] = await ends(c2, started.runId);
    expect(end!.status).toBe("error");
    expect(end!.error).toMatch(/adapter "nope" is not served/);
  }, 60_000);
});
