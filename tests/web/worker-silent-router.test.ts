/**
 * A worker that goes silent mid-stream, seen through the generate router as the playground sees
 * it: the idle timeout comes from WORKER_IDLE_TIMEOUT_S, the pane ends with an error saying so, and
 * the history row is marked error with the text that arrived. Real database (PGlite, and Postgres
 * when DATABASE_URL is set); the worker is a local HTTP server that sends one token, then nothing.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { EnvError, parseEnv } from "../../server/env";
import { envTarget } from "../../server/inference/client";
import type { RunChunk } from "../../server/inference/stream-hub";
import { chatsRouter } from "../../server/routers/chats";
import { generateRouter } from "../../server/routers/generate";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";

const createCaller = createCallerFactory(createTRPCRouter({ generate: generateRouter, chats: chatsRouter }));

let server: http.Server;
let url = "";
const held = new Set<http.ServerResponse>();
let handle: DbHandle;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/health") return void res.end("ok");
      if (req.url === "/info") {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ model_id: "m", max_new_tokens: 64, max_stop_sequences: 16 }));
      }
      if (req.url === "/generate_stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`data: ${JSON.stringify({ token: { id: 7, text: "Hello", logprob: -0.5, special: false }, generated_text: null, details: null })}\n\n`);
        held.add(res); // and nothing more
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  handle = await openDb(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL, max: 2 } : {});
  await migrateDb(handle);
});
afterAll(async () => {
  for (const res of held) res.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  await handle?.close();
});

describe("a silent worker behind the generate router", () => {
  it("WORKER_IDLE_TIMEOUT_S sets the streams' idle timeout (default 60 s); a bad value names the variable", async () => {
    expect(await envTarget(parseEnv({ INFERENCE_URL: url }))).toEqual({ baseUrl: url, protocol: "lorax", idleTimeoutMs: 60_000 });
    expect((await envTarget(parseEnv({ INFERENCE_URL: url, WORKER_IDLE_TIMEOUT_S: "2.5" }))).idleTimeoutMs).toBe(2_500);
    for (const bad of ["0", "-1", "soon"]) {
      expect(() => parseEnv({ WORKER_IDLE_TIMEOUT_S: bad })).toThrow(EnvError);
      expect(() => parseEnv({ WORKER_IDLE_TIMEOUT_S: bad })).toThrow(/WORKER_IDLE_TIMEOUT_S/);
    }
  });

  it("the pane ends as an error saying the worker went silent, and the row is marked error with what arrived", async () => {
    const ownerId = randomUUID();
    const c = createCaller({
      db: handle.db,
      env: parseEnv({ INFERENCE_URL: url, WORKER_IDLE_TIMEOUT_S: "2" }),
      ownerId,
      headers: new Headers({ host: "localhost:3000", origin: "http://localhost:3000" }),
    });
    const started = await c.generate.start({ mode: "raw", adapters: ["silent"], prompt: "hi", params: { max_new_tokens: 8, temperature: 0 } });
    const events: RunChunk[] = [];
    for await (const e of await c.generate.stream({ runId: started.runId })) events.push((e as unknown as [string, RunChunk])[1]);
    const end = events.find((e): e is Extract<RunChunk, { kind: "end" }> => e.kind === "end")!;
    expect([end.status, end.output]).toEqual(["error", "Hello"]);
    expect(end.error).toMatch(/sent nothing for 2 s.*WORKER_IDLE_TIMEOUT_S/);
    const row = (await c.chats.get({ id: started.chatId })).generations[0]!;
    expect([row.status, row.output, row.error]).toEqual(["error", "Hello", end.error]);
  }, 60_000);
});
