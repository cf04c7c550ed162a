/**
 * The plain HTTP routes (app/api/*, beside tRPC) with the database down: the production server
 * on a DATABASE_URL where nothing listens answers each of them 503 with Retry-After and a message
 * that says the database is not reachable (server/http/route-errors.ts), never an empty 500;
 * /api/v1 keeps OpenAI's error shape.
 * tests/web/db-unavailable.test.ts checks the same of tRPC, and the database coming back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_RETRY_AFTER_S } from "../../server/errors";
import { freePort, startWebServer, type WebServer } from "./browser";

describe("app/api routes while the database is down", () => {
  let web: WebServer;
  // a well-formed owner cookie: checking its signature needs the database's secret
  const cookie = `owner=${crypto.randomUUID()}.${"A".repeat(43)}`;
  beforeAll(async () => {
    web = await startWebServer({ env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/test` } });
  }, 300_000);
  afterAll(async () => {
    await web?.stop();
  });

  const call = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${web.url}${path}`, { ...init, headers: { cookie, origin: web.url, ...init.headers } });

  async function expectUnavailable(res: Response, label: string): Promise<Record<string, unknown>> {
    const text = await res.text();
    expect(res.status, `${label}: ${text}`).toBe(503);
    expect(res.headers.get("retry-after"), label).toBe(String(DATABASE_RETRY_AFTER_S));
    return JSON.parse(text) as Record<string, unknown>;
  }

  it("/api/adapters (list, register, rename, remove) and /api/train/datasets: 503, {error, code}, Retry-After", async () => {
    const form = new FormData();
    form.set("file", new Blob(["text,label\nhi,1\n"]), "d.csv");
    const answers = [
      ["GET /api/adapters", await call("/api/adapters")],
      ["POST /api/adapters (hub)", await call("/api/adapters", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ repo: "predibase/conllpp" }) })],
      ["PATCH /api/adapters", await call("/api/adapters?id=sql", { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ displayName: "x" }) })],
      ["DELETE /api/adapters", await call("/api/adapters?id=sql", { method: "DELETE" })],
      ["POST /api/train/datasets", await call("/api/train/datasets", { method: "POST", body: form })],
    ] as const;
    for (const [label, res] of answers) {
      const body = await expectUnavailable(res, label);
      expect(body, label).toMatchObject({ code: "SERVICE_UNAVAILABLE", error: expect.stringMatching(/database is not reachable/) });
    }
  });

  it("/api/v1: 503 in OpenAI's shape", async () => {
    const body = await expectUnavailable(await call("/api/v1/models"), "GET /api/v1/models");
    expect(body).toMatchObject({ error: { type: "server_error", code: "service_unavailable", message: expect.stringMatching(/database is not reachable/) } });
  });

  it("the server is still up after all of it, and a call the database is not needed for still answers", async () => {
    expect((await fetch(`${web.url}/api/eval/ingest`)).status).toBe(200);
  });
});
