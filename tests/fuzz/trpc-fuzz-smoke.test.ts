/**
 * A short run of the tRPC fuzzer (bench/fuzz/trpc-fuzz.ts; `npm run fuzz:trpc` for the full one)
 * with a fixed seed against the production web server on the real worker (demo model): generated
 * calls never hang, never drop the connection, never get a 5xx, and the server answers afterwards.
 * Stalls of a concurrent stream are not asserted here (they depend on the machine's load); the
 * script reports them.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatTrpcReport, fuzzTrpc } from "../../bench/fuzz/trpc-fuzz";
import { ownerCookie, startWebServer, type WebServer } from "../e2e/browser";
import { ROOT, startWorker, type Worker } from "../worker/worker-helpers";

let worker: Worker;
let web: WebServer;
beforeAll(async () => {
  const demo = path.join(ROOT, "data/demo");
  worker = await startWorker(["--model", path.join(demo, "base"), "--adapters", path.join(demo, "adapters"), "--max-new-tokens", "64"], { env: { HF_ENDPOINT: "http://127.0.0.1:9", HF_TOKEN: "" } });
  web = await startWebServer({ worker: { url: worker.url }, env: { TRUST_PROXY: "1" } });
});
afterAll(async () => {
  await web?.stop();
  await worker?.stop();
});

describe("tRPC fuzz (smoke)", () => {
  it("generated calls to the procedures: no 5xx, no hang, no dropped connection", async () => {
    const owners = [await ownerCookie(web), await ownerCookie(web)];
    const report = await fuzzTrpc({ url: web.url, seconds: 8, seed: 7, runners: 2, callers: { owners } });
    const all = Object.values(report.procedures);
    expect(all.reduce((n, s) => n + s.tried, 0)).toBeGreaterThan(0);
    // every 5xx, hang or drop counted is listed with its request (the first 20)
    const bad = all.reduce((n, s) => n + s.server + s.hangs + s.dropped, 0);
    expect(report.failures.length).toBe(Math.min(bad, 20));
    expect(report.failures, formatTrpcReport(report)).toEqual([]);
    // still serving
    expect((await fetch(`${web.url}/api/eval/ingest`)).ok).toBe(true);
  });
});
