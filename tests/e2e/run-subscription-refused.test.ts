/**
 * A run's subscription that the server refuses (an error the SSE link does not retry itself) is
 * opened again, in Chromium against the production server and the real worker. The page's first
 * `generate.stream` request (the next run's, opened before Run is clicked) is sent with a run id
 * that is not a UUID, so the server answers it with its own BAD_REQUEST; before the fix that subscription
 * stayed dead and the run it was opened for stayed "queued" for ever.
 */
import { describe, expect, it } from "vitest";
import { browserAvailable } from "./browser";
import { workerAnswer } from "./playground-harness";
import { useWorkerWebBrowser } from "./worker-web-browser";

describe.runIf(browserAvailable())("a refused run subscription", () => {
  const h = useWorkerWebBrowser();

  it("is opened again: the run shows its whole answer, once", { timeout: 300_000 }, async () => {
    const page = await h.browser.newPage();
    const streams: string[] = [];
    await page.route(/\/api\/trpc\/generate\.stream\?/, async (route) => {
      const url = new URL(route.request().url());
      streams.push(url.searchParams.get("input") ?? "");
      if (streams.length > 1) return route.continue();
      url.searchParams.set("input", JSON.stringify({ json: { runId: "not-a-uuid", awaitStart: true } }));
      await route.continue({ url: url.toString() });
    });
    const refused = page.waitForResponse((res) => res.url().includes("not-a-uuid"));
    const prompt = "The weather today is";
    await page.goto(`${h.web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=24&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    // answered (its body is the server's BAD_REQUEST event); clicked at once (the page renews an
    // unused id only every 25 s): the run is the refused id's
    expect((await refused).status()).toBe(200);
    await page.getByTestId("run").click();
    const pane = page.getByTestId("output-pane");
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 60_000 }).toMatch(/done|error/);
    expect(await pane.getAttribute("data-status")).toBe("done");
    expect(await pane.getByTestId("raw-output").textContent()).toBe(await workerAnswer(h.worker.url, prompt, "sql", 24, h.worker.real, true));
    expect(streams.length).toBeGreaterThanOrEqual(2);
    await page.close();
  });

  it("refused every time: the run's pane ends as an error that says so, and the page runs again", { timeout: 300_000 }, async () => {
    const page = await h.browser.newPage();
    let refuse = true;
    await page.route(/\/api\/trpc\/generate\.stream\?/, async (route) => {
      if (!refuse) return route.continue();
      const url = new URL(route.request().url());
      url.searchParams.set("input", JSON.stringify({ json: { runId: "not-a-uuid", awaitStart: true } }));
      await route.continue({ url: url.toString() });
    });
    const refused = page.waitForResponse((res) => res.url().includes("not-a-uuid"));
    await page.goto(`${h.web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent("Once upon a time")}&p.max_new_tokens=8`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await refused;
    await page.getByTestId("run").click();
    const pane = page.getByTestId("output-pane");
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 60_000 }).toMatch(/done|error/);
    expect(await pane.getAttribute("data-status")).toBe("error");
    expect(await pane.getByTestId("pane-error").textContent()).toBe("lost this run's stream (BAD_REQUEST); its answer is saved in History");
    // the server ran it all the same: the History sidebar lists it; and the page is not stuck
    await expect.poll(() => page.getByTestId("history-item").count(), { timeout: 30_000 }).toBe(1);
    refuse = false;
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.getByTestId("run").click();
    await expect.poll(() => pane.getAttribute("data-status"), { timeout: 60_000 }).toBe("done");
    await page.close();
  });
});
