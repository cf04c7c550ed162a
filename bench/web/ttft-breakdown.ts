/**
 * Where the web path's first-token time goes (issue 13 W1): Chromium clicks "Run" in the
 * playground; the DevTools protocol timestamps the start call, the subscription's request, its
 * response headers and each SSE message, and the page stamps the click and the first token's
 * DOM change. Prints the medians of each interval (ms from the click; a stream request opened
 * before the click, as the next run's subscription is, shows a negative time).
 *
 *   npx tsx bench/web/ttft-breakdown.ts [--runs 10] [--tokens 64]
 */
import { parseArgs } from "node:util";
import { launchBrowser, startWebServer } from "../../tests/e2e/browser";
import { startTestWorker } from "../../tests/e2e/playground-harness";
import { median } from "../engine/common";
import { clickRunUntilFirstToken } from "./first-token";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "10" }, tokens: { type: "string", default: "64" } } });
const RUNS = Number(args.runs);
const TOKENS = Number(args.tokens);

async function main() {
  // WEB_URL + WORKER_URL: servers started by hand (e.g. under --cpu-prof), else our own
  const given = process.env.WEB_URL && process.env.WORKER_URL;
  const worker = given ? { url: process.env.WORKER_URL!, stop: async () => {} } : await startTestWorker({});
  const web = given ? { url: process.env.WEB_URL!, stop: async () => {} } : await startWebServer({ worker: { url: worker.url } });
  const browser = await launchBrowser().catch(async (e) => { await web.stop(); await worker.stop(); throw e; });
  const prompt = "The best thing about small models is";
  const rows: Record<string, number>[] = [];
  try {
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    // monotonic (s) → wall (ms) from requestWillBeSent's pair; per request id
    const ev: { kind: string; url?: string; id: string; t: number; data?: string }[] = [];
    let offset = 0;
    cdp.on("Network.requestWillBeSent", (e) => {
      offset = e.wallTime * 1000 - e.timestamp * 1000;
      // the run a start call names (in its body) or a stream request follows (in its input)
      const url = new URL(e.request.url);
      const runId = url.pathname.endsWith("generate.stream")
        ? (JSON.parse(url.searchParams.get("input") ?? "{}") as { json?: { runId?: string } }).json?.runId
        : /"runId":"([^"]+)"/.exec(e.request.postData ?? "")?.[1];
      ev.push({ kind: "req", url: e.request.url, id: e.requestId, t: e.timestamp * 1000, data: runId });
    });
    cdp.on("Network.responseReceived", (e) => {
      ev.push({ kind: "res", id: e.requestId, t: e.timestamp * 1000 });
      // the request's own phases (ms after requestTime): when it got a connection and was written
      const tm = e.response.timing;
      if (tm) ev.push({ kind: "sent", id: e.requestId, t: tm.requestTime * 1000 + tm.sendStart });
    });
    cdp.on("Network.loadingFinished", (e) => ev.push({ kind: "done", id: e.requestId, t: e.timestamp * 1000 }));
    cdp.on("Network.eventSourceMessageReceived", (e) => ev.push({ kind: "msg", id: e.requestId, t: e.timestamp * 1000, data: e.data }));
    cdp.on("Network.dataReceived", (e) => ev.push({ kind: "data", id: e.requestId, t: e.timestamp * 1000 }));
    await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=${TOKENS}&p.ignore_eos=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    for (let i = 0; i < RUNS + 1; i++) {
      const r = (await page.evaluate(clickRunUntilFirstToken())) as { click: number; dom: number };
      await page.waitForSelector('[data-testid="output-pane"][data-status="done"]', { timeout: 60_000 });
      await page.waitForSelector('[data-testid="run"]:not([disabled])');
      const wall = (t: number) => t + offset - r.click;
      const afterClick = (e: { t: number }) => wall(e.t) > 0;
      const startReq = ev.find((e) => e.kind === "req" && e.url?.includes("generate.start") && wall(e.t) > -1);
      // the run's stream: opened before the click (the next run's subscription) or after it
      const streamReq = ev.find((e) => e.kind === "req" && e.url?.includes("generate.stream") && e.data === startReq?.data);
      const at = (kind: string, id?: string) => { const e = ev.find((x) => x.kind === kind && x.id === id); return e ? wall(e.t) : NaN; };
      const firstData = streamReq ? ev.filter((e) => (e.kind === "data" || e.kind === "msg") && e.id === streamReq.id && afterClick(e)).map((e) => wall(e.t)) : [];
      if (i === 0) continue; // warm-up
      rows.push({
        "start sent": startReq ? wall(startReq.t) : NaN,
        "start answered": at("res", startReq?.id),
        "stream sent": streamReq ? wall(streamReq.t) : NaN,
        "start on the wire": at("sent", startReq?.id),
        "stream on the wire": at("sent", streamReq?.id),
        "stream headers": at("res", streamReq?.id),
        "first stream data": firstData.length ? Math.min(...firstData) : NaN,
        "first token message": wall(ev.find((e) => e.kind === "msg" && e.id === streamReq?.id && afterClick(e) && e.data?.includes('"kind":"token"'))?.t ?? NaN),
        "first token in DOM": r.dom - r.click,
      });
    }
  } finally {
    await browser.close();
    await web.stop();
    await worker.stop();
  }
  console.log(`runs: ${rows.length}; ms after the click, medians (min–max)`);
  for (const k of Object.keys(rows[0] ?? {})) {
    const xs = rows.map((r) => r[k]!);
    console.log(`${k.padEnd(22)} ${median(xs).toFixed(1).padStart(7)}  (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
