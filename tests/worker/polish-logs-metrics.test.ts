/**
 * Issue 14 bug 8, worker side: /metrics carries the process's resident memory under prom-client's
 * default name (the web status page shows it); the web app's `/adapters` polls are not logged one
 * line each; the bundled adapters' differing base_model_name_or_path is said once per start, not
 * once per adapter. The real worker on the demo model and its nine adapters.
 */
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ROOT, startWorker, type Worker } from "./worker-helpers";

let w: Worker;
beforeAll(async () => {
  w = await startWorker(["--model", path.join(ROOT, "data/demo/base"), "--adapters", path.join(ROOT, "data/demo/adapters")]);
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

it("/metrics has process_resident_memory_bytes (> 0)", async () => {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const m = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  expect(m, "process_resident_memory_bytes missing from /metrics").not.toBeNull();
  expect(Number(m![1])).toBeGreaterThan(1e6);
});

it("GET /adapters polls are not logged; a failing adapter request still is", async () => {
  for (let i = 0; i < 3; i++) expect((await fetch(`${w.url}/adapters`)).status).toBe(200);
  expect((await fetch(`${w.url}/adapters/no-such-adapter`)).status).toBe(404);
  await expect.poll(() => w.logs()).toMatch(/"path":"\/adapters\/no-such-adapter"/);
  expect(w.logs()).not.toMatch(/"path":"\/adapters"[,}]/);
});

it("the adapters' differing base_model_name_or_path is said in one line per start", () => {
  const lines = w.logs().split("\n").filter((l) => l.includes("base_model_name_or_path"));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/loraland-mini-base/);
});
