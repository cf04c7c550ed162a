/**
 * A short run of the worker fuzzer (bench/fuzz/worker-fuzz.ts, `npm run fuzz:worker` for the full
 * one) with a fixed seed against the real worker on the tiny-llama fixture: generated bodies on
 * every route never get a 5xx and never hang. Stalls of the concurrent stream are not asserted
 * here (they depend on the machine's load); the script reports them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, startWorker, type Worker } from "./worker-helpers";
import { formatReport, fuzzWorker } from "../../bench/fuzz/worker-fuzz";

const fx = path.join(FIXTURES, "tiny-llama");
let w: Worker;
let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fuzz-smoke-"));
  w = await startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--model-id", "tiny-llama", "--max-new-tokens", "64", "--hub-cache", path.join(tmp, "hub")], {
    env: { HF_ENDPOINT: "http://127.0.0.1:9", HF_TOKEN: "", DATA_DIR: tmp },
  });
});
afterAll(async () => {
  await w?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("worker fuzz (smoke)", () => {
  it("generated bodies on every route: no 5xx, no hang", async () => {
    const report = await fuzzWorker({ url: w.url, seconds: 8, seed: 12, runners: 2 });
    const all = Object.values(report.routes);
    expect(all.reduce((n, s) => n + s.tried, 0)).toBeGreaterThan(0);
    expect(report.failures, formatReport(report)).toEqual([]);
    // the worker is still healthy afterwards
    expect((await fetch(`${w.url}/health`)).status).toBe(200);
  });
});
