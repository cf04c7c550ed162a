/**
 * The web server's worker client against a worker that misbehaves: a real local HTTP server that
 * goes silent mid-stream, sends a wrongly typed final event, or answers errors in each server's
 * shape. Silence ends the generation with an error (and the row says so) instead of hanging; a
 * malformed final event is an error, never `done`; errors keep their code through tRPC.
 * The well-behaved worker is covered by generate-worker.test.ts (the real one).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChat, getChat, startTurn, updateGeneration } from "../../server/db-queries/chats";
import { LoraLandError } from "../../server/errors";
import { seedCatalog } from "../../db/seed";
import { parseEnv } from "../../server/env";
import { runEval } from "../../server/eval/runner";
import { loadTaskCards } from "../../server/eval/tasks";
import { generateText, workerStatus } from "../../server/inference/client";
import { countTokens, streamGeneration, WorkerError, type StreamEvent, type WorkerTarget } from "../../server/inference/stream";
import { StreamHub, type RunChunk } from "../../server/inference/stream-hub";
import { LimitExceededError } from "../../server/limits";
import { createCallerFactory, createTRPCRouter, publicProcedure, type TRPCContext } from "../../server/trpc";
import { ensureCatalogHubAdapters } from "../../server/inference/hub-adapters";
import { ROOT } from "../worker/worker-helpers";
import { openPglite, type TestDb } from "./chats-harness";
import { openMigratedPglite } from "./db-harness";

const sse = (res: http.ServerResponse, payload: unknown) => res.write(`data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`);
const token = (id: number, text: string) => ({ token: { id, text, logprob: -0.5, special: false }, generated_text: null, details: null });

/** What the misbehaving worker does, chosen by the adapter id (LoRAX) or model (OpenAI) asked for. */
const behaviours: Record<string, (res: http.ServerResponse, req: http.IncomingMessage) => void> = {
  // headers and one token, then nothing, with the connection held open
  silent(res) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    sse(res, token(7, "Hello"));
  },
  // nothing at all: not even headers
  mute() {},
  // a final event whose prompt_tokens is a string (the row's integer column would refuse it)
  "bad-final"(res) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    sse(res, token(7, "Hello"));
    sse(res, { token: null, generated_text: "Hello", details: { finish_reason: "length", prompt_tokens: "three", generated_tokens: 1, seed: null } });
    res.end();
  },
  // a final event with generated_text but no details
  "no-details"(res) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    sse(res, token(7, "Hello"));
    sse(res, { token: null, generated_text: 42, details: null });
    res.end();
  },
  // OpenAI: a finish reason that is not a string
  "openai-bad-final"(res) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    sse(res, { choices: [{ index: 0, text: "Hello", logprobs: null, finish_reason: null }] });
    sse(res, { choices: [{ index: 0, text: "", logprobs: null, finish_reason: 7 }] });
    sse(res, "[DONE]");
    res.end();
  },
  // keep-alive comments for longer than the idle timeout, then an answer: alive, not silent
  pinging(res) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const ping = setInterval(() => res.write(": ping\n\n"), 50);
    setTimeout(() => {
      clearInterval(ping);
      sse(res, token(7, "Hello"));
      sse(res, { token: null, generated_text: "Hello", details: { finish_reason: "length", prompt_tokens: 3, generated_tokens: 1, seed: null } });
      res.end();
    }, 4_500);
  },
  // a non-streamed answer sent a space at a time for longer than the idle timeout, then its JSON
  dripping(res) {
    res.writeHead(200, { "content-type": "application/json" });
    const drip = setInterval(() => res.write(" "), 50);
    setTimeout(() => {
      clearInterval(drip);
      res.end(JSON.stringify({ generated_text: "slow but alive" }));
    }, 4_500);
  },
  "lorax-422"(res) {
    res.writeHead(422, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "parameters.top_p: must be > 0", error_type: "validation" }));
  },
  "openai-400"(res) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "max_tokens is too large", type: "invalid_request_error", code: "context_length_exceeded" } }));
  },
  "vllm-404"(res) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ object: "error", message: "The model `x` does not exist.", type: "NotFoundError", code: 404 }));
  },
  "busy-429"(res) {
    res.writeHead(429, { "content-type": "text/plain", "retry-after": "7" });
    res.end("too busy");
  },
};

let server: http.Server;
let url = "";
/** requests whose connection the client closed (the worker sees a disconnect and cancels) */
const closed = new Set<string>();
const open = new Set<http.ServerResponse>();
/** generation requests received, by adapter id / model */
const requests = new Map<string, number>();
let t: TestDb;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c));
    req.on("end", () => {
      if (req.method === "GET" && req.url === "/health") return void res.end("ok");
      if (req.method === "GET" && req.url === "/info") {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ model_id: 5, max_new_tokens: 64 }));
      }
      if (req.url === "/tokenize") {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ tokens: "three" }));
      }
      const body = JSON.parse(raw || "{}") as { model?: string; parameters?: { adapter_id?: string } };
      const name = body.parameters?.adapter_id ?? body.model ?? "";
      requests.set(name, (requests.get(name) ?? 0) + 1);
      open.add(res);
      res.on("close", () => {
        open.delete(res);
        closed.add(name);
      });
      (behaviours[name] ?? behaviours["lorax-422"]!)(res, req);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await openPglite();
});
afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  await t?.close();
});

const params = { max_new_tokens: 8, temperature: 0 };
/** short enough for a test, long enough that a busy machine's pauses are not taken for silence */
const IDLE_MS = 2_000;
const lorax = (idleTimeoutMs = 60_000): WorkerTarget => ({ baseUrl: url, protocol: "lorax", idleTimeoutMs });

async function collect(it: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Runs `adapterId` through a hub with real PGlite rows; the end event and the stored row. */
async function throughHub(adapterId: string, idleTimeoutMs: number) {
  const hub = new StreamHub({ target: () => lorax(idleTimeoutMs), persist: (id, patch) => updateGeneration({ db: t.db, id, patch }), flushMs: 10 });
  const chat = await createChat({ db: t.db, ownerId: "o", kind: "run", title: "t", settings: { adapters: [adapterId], mode: "raw", params } });
  const { generations } = await startTurn({ db: t.db, ownerId: "o", chatId: chat.id, content: "hi", inputs: null, mode: "raw", panes: [{ adapterId, prompt: "hi" }], params });
  const runId = hub.start("o", [{ generationId: generations[0]!.id, request: { prompt: "hi", adapterId, params } }]);
  const events: RunChunk[] = [];
  for await (const [, c] of hub.subscribe(runId, "o", 0)) events.push(c);
  const end = events.find((c): c is Extract<RunChunk, { kind: "end" }> => c.kind === "end")!;
  const row = (await getChat({ db: t.db, ownerId: "o", id: chat.id }))!.generations[0]!;
  return { events, end, row };
}

describe("a worker that goes silent", () => {
  it("mid-stream: the generation ends with a clear error after the idle timeout, and the request is closed", async () => {
    const seen: StreamEvent[] = [];
    const err = await (async () => {
      for await (const e of streamGeneration(lorax(IDLE_MS), { prompt: "hi", adapterId: "silent", params })) seen.push(e);
    })().catch((e: unknown) => e);
    expect(seen.map((e) => e.type)).toEqual(["accepted", "token"]);
    expect(err).toBeInstanceOf(WorkerError);
    expect(err).toMatchObject({ status: 504, errorType: "worker_timeout", code: "GATEWAY_TIMEOUT" });
    expect((err as Error).message).toMatch(/sent nothing for 2 s/);
    await expect.poll(() => closed.has("silent")).toBe(true);
  }, 30_000);

  it("before its headers: the same error", async () => {
    const err = await collect(streamGeneration(lorax(IDLE_MS), { prompt: "hi", adapterId: "mute", params })).catch((e: unknown) => e);
    expect(err).toMatchObject({ errorType: "worker_timeout" });
  }, 30_000);

  it("through the hub: the pane ends as an error saying why, and the row is marked error with the text so far", async () => {
    const { events, end, row } = await throughHub("silent", IDLE_MS);
    expect(events.some((c) => c.kind === "token" && c.text === "Hello")).toBe(true);
    expect(end.status).toBe("error");
    expect(end.error).toMatch(/sent nothing for 2 s/);
    expect([row.status, row.output, row.error]).toEqual(["error", "Hello", end.error]);
  }, 30_000);

  it("keep-alive comments are not silence: a worker that pings longer than the timeout still finishes", async () => {
    const events = await collect(streamGeneration(lorax(3_000), { prompt: "hi", adapterId: "pinging", params }));
    expect(events.at(-1)).toMatchObject({ type: "done", finishReason: "length", generatedText: "Hello" });
  }, 30_000);
});

describe("a worker that goes silent on a non-streamed request (the eval runner's)", () => {
  const endpoint = (idleTimeoutMs: number, protocol: "lorax" | "openai" = "lorax") => ({ url, protocol, baseModelId: "m", idleTimeoutMs });

  it("generateText ends with a 504 naming WORKER_IDLE_TIMEOUT_S and closes the request (LoRAX and OpenAI)", async () => {
    for (const protocol of ["lorax", "openai"] as const) {
      closed.delete("mute");
      const err = await generateText(endpoint(IDLE_MS, protocol), { prompt: "hi", adapterId: "mute", maxNewTokens: 8 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkerError);
      expect(err).toMatchObject({ status: 504, errorType: "worker_timeout", code: "GATEWAY_TIMEOUT" });
      expect((err as Error).message).toMatch(/sent nothing for 2 s.*WORKER_IDLE_TIMEOUT_S/);
      await expect.poll(() => closed.has("mute")).toBe(true);
    }
  }, 30_000);

  it("bytes of the answer are not silence: an answer dripping for longer than the timeout is read", async () => {
    expect(await generateText(endpoint(3_000), { prompt: "hi", adapterId: "dripping", maxNewTokens: 8 })).toBe("slow but alive");
  }, 30_000);

  it("an eval run over a silent worker fails with that error (not retried) instead of hanging", async () => {
    const card = loadTaskCards()[0]!;
    const before = requests.get("mute") ?? 0;
    const err = await runEval({
      endpoint: endpoint(IDLE_MS),
      tasks: [{ slug: "t", card, adapterId: "mute", examples: [{ index: 0, prompt: "hi", inputs: {}, reference: "x" }] }],
      withBase: false,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 504, errorType: "worker_timeout" });
    expect((err as Error).message).toMatch(/adapter "mute".*sent nothing for 2 s/);
    expect((requests.get("mute") ?? 0) - before).toBe(1);
  }, 30_000);
});

describe("a worker that goes silent while registering a catalog Hub repo (a run's first use of it), or counting tokens", () => {
  it("the registration ends with a 504 after WORKER_IDLE_TIMEOUT_S instead of holding the start for good, and the next start asks again; so does a token count", async () => {
    const repo = "predibase/jigsaw";
    let registrations = 0;
    const held = new Set<http.ServerResponse>();
    const hubWorker = http.createServer((req, res) => {
      const json = (body: unknown) => (res.writeHead(200, { "content-type": "application/json" }), res.end(JSON.stringify(body)));
      if (req.url === "/health") return void res.end("ok");
      if (req.url === "/info") return void json({ model_id: "mistralai/Mistral-7B-v0.1", adapter_sources: ["local", "hub"] });
      if (req.url === "/adapters" && req.method === "GET") return void json([]);
      if ((req.url === "/adapters" && req.method === "POST") || req.url === "/tokenize") {
        if (req.url === "/adapters") registrations++;
        held.add(res); // says nothing, holds the connection
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => hubWorker.listen(0, "127.0.0.1", r));
    const h = await openMigratedPglite();
    try {
      await seedCatalog(h.db, { root: ROOT });
      const env = parseEnv({ INFERENCE_URL: `http://127.0.0.1:${(hubWorker.address() as AddressInfo).port}`, WORKER_IDLE_TIMEOUT_S: "2" });
      const err = await ensureCatalogHubAdapters(h.db, env, [repo]).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 504, errorType: "worker_timeout", code: "GATEWAY_TIMEOUT" });
      expect((err as Error).message).toMatch(/sent nothing for 2 s.*\/adapters.*WORKER_IDLE_TIMEOUT_S/);
      // not left pending: a later start registers again
      await expect(ensureCatalogHubAdapters(h.db, env, [repo])).rejects.toMatchObject({ errorType: "worker_timeout" });
      expect(registrations).toBe(2);
      // the playground's token count from the same silent worker: a 504 too, not a request left open
      await expect(countTokens({ baseUrl: env.INFERENCE_URL!, protocol: "lorax", idleTimeoutMs: 2_000 }, "hello")).rejects.toMatchObject({ status: 504, errorType: "worker_timeout" });
    } finally {
      for (const res of held) res.destroy();
      await new Promise<void>((r) => hubWorker.close(() => r()));
      await h.close();
    }
  }, 60_000);
});

describe("malformed worker answers are errors, never results", () => {
  it("a wrongly typed final event (LoRAX): error, not done; the row is marked error, not left queued", async () => {
    const err = await collect(streamGeneration(lorax(), { prompt: "hi", adapterId: "bad-final", params })).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, errorType: "bad_event" });
    expect((err as Error).message).toMatch(/details\.prompt_tokens/);

    const { end, row } = await throughHub("bad-final", 60_000);
    expect([end.status, end.finishReason]).toEqual(["error", null]);
    expect(end.error).toMatch(/malformed event/);
    expect([row.status, row.error]).toEqual(["error", end.error]);
  }, 30_000);

  it("a final event without details, and an OpenAI finish_reason that is not a string: errors", async () => {
    await expect(collect(streamGeneration(lorax(), { prompt: "hi", adapterId: "no-details", params }))).rejects.toMatchObject({ errorType: "bad_event" });
    const openai: WorkerTarget = { baseUrl: url, protocol: "openai", baseModelId: "m" };
    await expect(collect(streamGeneration(openai, { prompt: "hi", adapterId: "openai-bad-final", params }))).rejects.toMatchObject({ errorType: "bad_event", message: expect.stringMatching(/choices\.0\.finish_reason/) });
  }, 30_000);

  it("error bodies in each server's shape give the worker's message, status and Retry-After", async () => {
    const failure = (adapterId: string, protocol: "lorax" | "openai" = "lorax") =>
      collect(streamGeneration({ baseUrl: url, protocol, baseModelId: "m" }, { prompt: "hi", adapterId, params })).catch((e: unknown) => e as WorkerError);
    expect(await failure("lorax-422")).toMatchObject({ status: 422, errorType: "validation", message: "parameters.top_p: must be > 0", code: "UNPROCESSABLE_CONTENT" });
    expect(await failure("openai-400", "openai")).toMatchObject({ status: 400, errorType: "context_length_exceeded", message: "max_tokens is too large", code: "BAD_REQUEST" });
    expect(await failure("vllm-404", "openai")).toMatchObject({ status: 404, errorType: "NotFoundError", message: "The model `x` does not exist.", code: "NOT_FOUND" });
    expect(await failure("busy-429")).toMatchObject({ status: 429, message: "too busy", retryAfterS: 7, code: "TOO_MANY_REQUESTS" });
  });

  it("a malformed /tokenize answer is an error, not a count; a malformed /info is reported, not taken as no model", async () => {
    await expect(countTokens(lorax(), "hello")).rejects.toMatchObject({ status: 502, errorType: "bad_response", message: expect.stringMatching(/\/tokenize is malformed/) });
    const s = await workerStatus(url, "lorax", { fresh: true, timeoutMs: 30_000 });
    expect([s.online, s.modelId]).toEqual([true, null]);
    expect(s.error).toMatch(/\/info is malformed \(model_id:/);
  });
});

describe("errors become tRPC errors in one place", () => {
  const router = createTRPCRouter({
    limited: publicProcedure.query(() => {
      throw new LimitExceededError("requests_per_minute", "Too many requests", 12);
    }),
    worker: publicProcedure.mutation(() => {
      throw new WorkerError("the worker is loading", 503, "unavailable");
    }),
    refused: publicProcedure.query(() => {
      throw new LoraLandError("PRECONDITION_FAILED", "start the worker first");
    }),
    events: publicProcedure.subscription(async function* () {
      yield 1;
      throw new LoraLandError("NOT_FOUND", "no such run");
    }),
    bug: publicProcedure.query(() => {
      throw new Error("a bug");
    }),
  });
  const ctx = { headers: new Headers(), ownerId: null } as unknown as TRPCContext;
  const caller = createCallerFactory(router)(ctx);

  it("a thrown LoraLandError keeps its code (and a subscription's too); anything else stays a 500", async () => {
    await expect(caller.limited()).rejects.toMatchObject({ code: "TOO_MANY_REQUESTS", message: "Too many requests" });
    await expect(caller.worker()).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE", message: "the worker is loading" });
    await expect(caller.refused()).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await expect(caller.bug()).rejects.toMatchObject({ code: "INTERNAL_SERVER_ERROR" });
    const seen: number[] = [];
    const err = await (async () => {
      for await (const n of await caller.events()) seen.push(n);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([1]);
    expect(err).toMatchObject({ code: "NOT_FOUND", message: "no such run" });
  });

  it("over HTTP the code is the status", async () => {
    const call = (path: string, method = "GET") =>
      fetchRequestHandler({ endpoint: "/api/trpc", req: new Request(`http://localhost/api/trpc/${path}`, { method, ...(method === "POST" ? { body: "{}", headers: { "content-type": "application/json" } } : {}) }), router, createContext: () => ctx });
    expect((await call("limited")).status).toBe(429);
    expect((await call("worker", "POST")).status).toBe(503);
    expect((await call("refused")).status).toBe(412);
  });
});
