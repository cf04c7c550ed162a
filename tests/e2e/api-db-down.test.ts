/**
 * The plain HTTP routes (app/api/*, beside tRPC) with the database down: the production server
 * on a DATABASE_URL where nothing listens answers each of them 503 with Retry-After and a message
 * that says the database is not reachable (server/http/route-errors.ts), never an empty 500;
 * /api/v1 keeps OpenAI's error shape. A page shows the server's refusal (app/error.tsx).
 * tests/web/db-unavailable.test.ts checks the same of tRPC, and the database coming back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_RETRY_AFTER_S } from "../../server/errors";
import { findPgBin, ThrowawayPostgres } from "../web/throwaway-postgres";
import { browserAvailable, freePort, launchBrowser, startWebServer, type WebServer } from "./browser";

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

  it.runIf(browserAvailable())("a page says the database is not reachable (not a bare \"something went wrong\"), with a retry", async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${web.url}/`);
      const message = page.getByTestId("page-error-message");
      await message.waitFor({ timeout: 60_000 });
      await expect.poll(() => message.textContent(), { timeout: 30_000 }).toMatch(/database is not reachable right now/);
      await page.getByRole("button", { name: "Try again" }).waitFor();
    } finally {
      await browser.close();
    }
  }, 120_000);

  it("the server is still up after all of it, and a call the database is not needed for still answers", async () => {
    expect((await fetch(`${web.url}/api/eval/ingest`)).status).toBe(200);
  });
});

const PG_BIN = findPgBin();
describe.skipIf(!PG_BIN || !browserAvailable())("a page while its database is down, then back (a Postgres of this test's own)", () => {
  let pg: ThrowawayPostgres;
  let web: WebServer;
  beforeAll(async () => {
    pg = await ThrowawayPostgres.create(PG_BIN!);
    pg.stop("fast");
    web = await startWebServer({ env: { DATABASE_URL: pg.url } });
  }, 300_000);
  afterAll(async () => {
    await web?.stop();
    pg?.destroy();
  });

  it("says the database is not reachable; once it is back, Try again shows the catalog", async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${web.url}/`);
      await page.getByTestId("page-error-message").waitFor({ timeout: 60_000 });
      pg.start();
      // the first tries after the start may still be refused (the server opens and migrates it)
      await expect
        .poll(
          async () => {
            const retry = page.getByRole("button", { name: "Try again" });
            if (await retry.count()) await retry.click();
            return page.locator('[data-testid="adapter-card"], [data-testid="adapter-table"]').count();
          },
          { timeout: 90_000, interval: 3_000 },
        )
        .toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  }, 200_000);
});
