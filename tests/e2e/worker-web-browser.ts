/**
 * For the browser tests' describe blocks: the test worker, the production web server on it and
 * Chromium, started in beforeAll and stopped in afterAll. Its own file because it imports vitest:
 * playground-harness.ts is also imported by the benchmarks (bench/web), which run outside vitest.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { launchBrowser, startWebServer, type StartOptions, type WebServer } from "./browser";
import { startTestWorker, type TestWorker } from "./playground-harness";

export interface WorkerWebBrowser {
  worker: TestWorker;
  web: WebServer;
  browser: Browser;
}

/**
 * For a describe block: the test worker, the production web server on it (with `webOptions`) and
 * Chromium, started before its tests and stopped after them. The fields are set in beforeAll: read
 * them inside the tests.
 */
export function useWorkerWebBrowser(webOptions: Omit<StartOptions, "worker"> = {}): WorkerWebBrowser {
  const h = {} as WorkerWebBrowser;
  beforeAll(async () => {
    h.worker = await startTestWorker();
    h.web = await startWebServer({ ...webOptions, worker: { url: h.worker.url } });
    h.browser = await launchBrowser();
  }, 600_000);
  afterAll(async () => {
    await h.browser?.close();
    await h.web?.stop();
    await h.worker?.stop();
  });
  return h;
}
