/**
 * The tRPC HTTP entry (server/http/trpc-handler.ts) as a browser or a script reaches it: no owner
 * → 401 (no fresh identity per request), a made-up UUID → 401, a signed cookie → served; the
 * admin's bearer token needs no owner; over a limit → 429 with Retry-After, from one address too.
 * Real PGlite with the migrations; the worker is the LoRAX-protocol stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeWorker, type FakeWorker } from "../../bench/web/fake-worker";
import { ownerSecret, signOwner } from "../../server/auth/owner-cookie";
import { parseEnv, type Env } from "../../server/env";
import { handleTRPC } from "../../server/http/trpc-handler";
import { OwnerLimits } from "../../server/limits";
import { setGenerateLimits } from "../../server/routers/generate";
import { openMigratedPglite, type TestDatabase } from "./db-harness";

const TOKEN = "admin-token-for-the-http-test";
let t: TestDatabase;
let worker: FakeWorker;
let env: Env;
let secret: Buffer;
beforeAll(async () => {
  t = await openMigratedPglite();
  worker = await startFakeWorker({ delayMs: 1 });
  env = parseEnv({ INFERENCE_URL: worker.url, ADMIN_TOKEN: TOKEN });
  secret = await ownerSecret(t.db);
});
afterAll(async () => {
  // the admitted runs are two tokens long: let them store their rows before the database closes
  await new Promise((r) => setTimeout(r, 1000));
  await worker?.close();
  await t?.close();
});

const BASE = "http://localhost:3000";
const call = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
  handleTRPC(new Request(`${BASE}/api/trpc/${path}`, { ...init, headers: { host: "localhost:3000", ...init.headers } }), { db: async () => t.db, env });
const owner = (id: string) => ({ cookie: `owner=${signOwner(id, secret)}` });
const start = (headers: Record<string, string>, adapters: (string | null)[] = [null]) =>
  call("generate.start", {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE, ...headers },
    body: JSON.stringify({ json: { mode: "raw", adapters, prompt: "Hello", params: { max_new_tokens: 2, temperature: 0 } } }),
  });

describe("tRPC over HTTP", () => {
  it("refuses calls without a valid owner: none, a made-up UUID, a forged signature", async () => {
    const cases: Record<string, string>[] = [{}, { cookie: "owner=00000000-0000-4000-8000-000000000000" }, { cookie: `owner=00000000-0000-4000-8000-000000000000.${"A".repeat(43)}` }];
    for (const headers of cases) {
      const res = await call("chats.list", { headers });
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/no valid owner cookie/);
      expect((await start(headers)).status).toBe(401);
    }
  });

  it("serves a signed owner, and the admin's bearer token without one", async () => {
    const res = await call("chats.list", { headers: owner(crypto.randomUUID()) });
    expect(res.status).toBe(200);
    expect((await res.json()).result.data.json).toEqual([]);
    expect((await call("access.me", { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await call("access.me", { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);
  });

  it("answers 429 with Retry-After: per owner, per address across owners, and for concurrency", async () => {
    setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 2, requestsPerMinute: 2, addressRequestsPerMinute: 3 }));
    const a = owner(crypto.randomUUID());
    expect((await start(a)).status).toBe(200);
    expect((await start(a)).status).toBe(200);
    const perOwner = await start(a);
    expect(perOwner.status).toBe(429);
    expect(Number(perOwner.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await perOwner.text()).toMatch(/at most 2 generations a minute/);

    // fresh owners from one address: the address limit (3 a minute) still holds
    const addr = { "x-forwarded-for": "198.51.100.23" };
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await start({ ...owner(crypto.randomUUID()), ...addr })).status);
    expect(codes).toEqual([200, 200, 200, 429]);
    const res = await start({ ...owner(crypto.randomUUID()), ...addr });
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);

    // three streams at once when two are allowed
    const busy = await start(owner(crypto.randomUUID()), [null, "spam", "sql"]);
    expect(busy.status).toBe(429);
    expect(busy.headers.get("retry-after")).toBe("5");
  });

  it("refuses a body over 1 MB with 413, with or without Content-Length", async () => {
    const big = JSON.stringify({ json: { mode: "raw", adapters: [null], prompt: "x".repeat(2_000_000), params: { max_new_tokens: 1 } } });
    const headers = { "content-type": "application/json", origin: BASE, ...owner(crypto.randomUUID()) };
    const declared = await call("generate.start", { method: "POST", headers: { ...headers, "content-length": String(big.length) }, body: big });
    expect(declared.status).toBe(413);
    expect(await declared.text()).toMatch(/over 1048576 bytes/);
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode(big.slice(i * 500_000, (i + 1) * 500_000)));
        c.enqueue(new TextEncoder().encode(big.slice(2_000_000)));
        c.close();
      },
    });
    const streamed = await call("generate.start", { method: "POST", headers, body: chunks, duplex: "half" } as RequestInit & { headers: Record<string, string> });
    expect(streamed.status).toBe(413);
  });
});
