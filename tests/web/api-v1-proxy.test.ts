/**
 * The keyed /api/v1 proxy (app/api/v1/[...path]/route.ts) to the real worker's OpenAI routes:
 * no key → 401; an admin bearer token or a same-site owner cookie passes; a cross-site cookie is
 * refused; streams arrive untouched (the text equals the worker's own answer); generations count
 * against the owner's limits (429 + Retry-After); other paths are 404.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { proxyCurlSnippet } from "../../components/playground/api-snippets";
import { realWorkerAvailable } from "../e2e/playground-harness";
import { spawnRealWorker, type RunningWorker } from "./generate-worker-process";

type Handler = (req: Request, ctx: { params: Promise<{ path: string[] }> }) => Promise<Response>;

describe.runIf(realWorkerAvailable())("/api/v1 proxy", () => {
  let w: RunningWorker;
  let route: { GET: Handler; POST: Handler };
  let cookie: string;
  let limitsMod: typeof import("../../server/routers/generate");
  let LimitsClass: typeof import("../../server/limits").OwnerLimits;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "api-v1-"));

  beforeAll(async () => {
    w = await spawnRealWorker(path.resolve("data/demo/base"), path.resolve("data/demo/adapters"));
    Object.assign(process.env, { DATA_DIR: dataDir, INFERENCE_URL: w.url, ADMIN_TOKEN: "admin-secret-for-tests-0123456789" });
    delete process.env.DATABASE_URL;
    route = (await import("../../app/api/v1/[...path]/route")) as unknown as typeof route;
    const { getServerDb } = await import("../../server/db-handle");
    const { signOwner, ownerSecret } = await import("../../server/auth/owner-cookie");
    cookie = `owner=${signOwner(randomUUID(), await ownerSecret(await getServerDb()))}`;
    limitsMod = await import("../../server/routers/generate");
    LimitsClass = (await import("../../server/limits")).OwnerLimits;
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const at = (p: string) => ({ params: Promise.resolve({ path: p.split("/") }) });
  const post = (p: string, headers: Record<string, string>, body: unknown) =>
    route.POST(new Request(`http://localhost:3000/api/v1/${p}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }), at(p));
  const completion = { model: "sql", prompt: "The weather today is", max_tokens: 8, temperature: 0 };

  it("refuses a request without a key (401) and a cross-site cookie (403)", async () => {
    expect((await post("completions", {}, completion)).status).toBe(401);
    expect((await post("completions", { authorization: "Bearer wrong" }, completion)).status).toBe(401);
    const cross = await post("completions", { cookie, origin: "https://evil.example", "sec-fetch-site": "cross-site" }, completion);
    expect(cross.status).toBe(403);
  });

  it("passes an admin's streamed completion through untouched: the text is the worker's own", async () => {
    const direct = (await (await fetch(`${w.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(completion) })).json()) as { choices: { text: string }[] };
    const res = await post("completions", { authorization: "Bearer admin-secret-for-tests-0123456789" }, { ...completion, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const sse = await res.text();
    const text = sse
      .split("\n")
      .filter((l) => l.startsWith("data: ") && l !== "data: [DONE]")
      .map((l) => (JSON.parse(l.slice(6)) as { choices: { text: string }[] }).choices[0]?.text ?? "")
      .join("");
    expect(text).toBe(direct.choices[0]!.text);
    expect(sse).toMatch(/data: \[DONE\]/);
  });

  it("the playground's proxy curl snippet, sent as written, gets the worker's own answer", async () => {
    const params = { max_new_tokens: 8, temperature: 0 };
    const snippet = proxyCurlSnippet("http://localhost:3000/api/v1", "sql", completion.prompt, params);
    const body = JSON.parse(/-d '([\s\S]*)'$/.exec(snippet)![1]!) as unknown;
    const direct = (await (await fetch(`${w.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json()) as { choices: { text: string }[] };
    const res = await post("completions", { authorization: "Bearer admin-secret-for-tests-0123456789" }, body);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { text: string }[] }).choices[0]!.text).toBe(direct.choices[0]!.text);
  });

  it("an owner cookie (same site) lists the models and generates; other paths are 404", async () => {
    const models = await route.GET(new Request("http://localhost:3000/api/v1/models", { headers: { cookie } }), at("models"));
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toContain("sql");
    expect((await post("completions", { cookie, origin: "http://localhost:3000", host: "localhost:3000" }, completion)).status).toBe(200);
    expect((await post("generate", { cookie }, completion)).status).toBe(404);
    // an oversized body is refused before it reaches the worker
    expect((await post("completions", { cookie }, { ...completion, prompt: "x".repeat(2 << 20) })).status).toBe(413);
  });

  it("counts against the owner's limits as generate.start does (429 with Retry-After)", async () => {
    limitsMod.setGenerateLimits(new LimitsClass({ maxConcurrentStreams: 8, requestsPerMinute: 1 }));
    try {
      expect((await post("completions", { cookie }, completion)).status).toBe(200);
      const refused = await post("completions", { cookie }, completion);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/at most 1 generations a minute/);
    } finally {
      limitsMod.setGenerateLimits(new LimitsClass({ maxConcurrentStreams: 8, requestsPerMinute: 60 }));
    }
  });
});
