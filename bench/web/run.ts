/**
 * Web-path benchmark (PERFORMANCE.md W1–W3), through the production Next server, tRPC and SSE:
 *
 * - W1: browser-observed time to first token (Chromium: click "Run" → first token in the DOM)
 *   minus the worker's own TTFT for the same request (an SSE client straight on the worker).
 * - W2: with 8 concurrent streams, delay from the web server receiving each token from the
 *   worker to an HTTP SSE client receiving it; every stream checked for lost/reordered tokens.
 * - W3: 50 simultaneous streaming HTTP clients (one owner each): all complete, none lose or
 *   reorder a token (text equals the worker's own greedy answer), p99 delay; one of them drops
 *   its connection mid-way and resumes with lastEventId.
 * - W4: Chromium: click "Stop" on a long stream → the pane's status is "stopped" (median, max),
 *   and how many characters the pane gained after the click (the goal is none).
 *
 *   npm run bench:web [-- --runs 10 --tokens 32 --fake]
 *
 * Uses the real worker on the bundled demo model when the project has `inference/cli/serve.ts`
 * (else, or with --fake, the LoRAX-protocol stand-in, and the table says so). Prints a Markdown table.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { launchBrowser, startWebServer, chromiumAvailable } from "../../tests/e2e/browser";
import { startTestWorker, workerAnswer, realWorkerAvailable } from "../../tests/e2e/playground-harness";
import { clickRunUntilFirstToken } from "./first-token";
import { streamGeneration } from "../../server/inference/stream";
import type { RunChunk } from "../../server/inference/stream-hub";

const { values: opts } = parseArgs({ options: { runs: { type: "string", default: "10" }, tokens: { type: "string", default: "32" }, fake: { type: "boolean", default: false } } });
const RUNS = Number(opts.runs);
const TOKENS = Number(opts.tokens);
const FAKE = opts.fake;
const now = () => performance.timeOrigin + performance.now();

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const median = (xs: number[]) => quantile(xs, 0.5);
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "–");

interface StreamResult {
  text: string;
  indices: number[];
  /** client receipt − web server receipt, per token (ms), for tokens the server received while this client was connected (earlier ones are replayed from the buffer) */
  delays: number[];
  ttftMs: number;
  status: string;
}

/** A signed owner cookie (`owner=<uuid>.<hmac>`), minted the only way the server mints one: a page load. */
async function mintOwner(web: string): Promise<string> {
  const res = await fetch(`${web}/`);
  await res.arrayBuffer();
  const set = res.headers.getSetCookie().find((c) => c.startsWith("owner="));
  if (!set) throw new Error(`the page load at ${web}/ set no owner cookie`);
  return set.split(";")[0].slice("owner=".length);
}

/** One generation through the web server as an HTTP client (its own owner): POST start, then the SSE subscription. */
async function webStream(web: string, prompt: string, adapterId: string | null, opts: { dropAfter?: number } = {}): Promise<StreamResult> {
  const owner = await mintOwner(web);
  const headers = { "content-type": "application/json", cookie: `owner=${owner}` };
  const t0 = now();
  const res = await fetch(`${web}/api/trpc/generate.start`, {
    method: "POST",
    headers,
    body: JSON.stringify({ json: { mode: "raw", adapters: [adapterId], prompt, params: { max_new_tokens: TOKENS, temperature: 0, ignore_eos: true } } }),
  });
  if (!res.ok) throw new Error(`start ${res.status}: ${await res.text()}`);
  const { runId } = ((await res.json()) as { result: { data: { json: { runId: string } } } }).result.data.json;
  const out: StreamResult = { text: "", indices: [], delays: [], ttftMs: NaN, status: "?" };
  let lastId: string | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const input = encodeURIComponent(JSON.stringify({ json: { runId, lastEventId: lastId } }));
    const ac = new AbortController();
    const sse = await fetch(`${web}/api/trpc/generate.stream?input=${input}`, { headers: { cookie: `owner=${owner}`, accept: "text/event-stream" }, signal: ac.signal });
    if (!sse.ok || !sse.body) throw new Error(`stream ${sse.status}`);
    const reader = sse.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    let dropped = false;
    const connectedAt = now();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.event === "return") break;
        if (!value.id || !value.data) continue;
        const chunk = (JSON.parse(value.data) as { json: RunChunk }).json;
        out.indices.push(Number(value.id));
        lastId = value.id;
        if (chunk.kind === "token") {
          const t = now();
          if (Number.isNaN(out.ttftMs)) out.ttftMs = t - t0;
          if (chunk.at >= connectedAt) out.delays.push(t - chunk.at);
          if (!chunk.special) out.text += chunk.text;
          if (opts.dropAfter !== undefined && attempt === 0 && out.indices.length >= opts.dropAfter) {
            dropped = true;
            ac.abort();
            break;
          }
        } else if (chunk.kind === "end") {
          out.status = chunk.status;
          out.text = chunk.status === "done" ? chunk.output : out.text;
        }
      }
    } catch (e) {
      if (!dropped) throw e;
    }
    if (!dropped) break;
  }
  return out;
}

/** Worker-observed TTFT: an SSE client straight on the worker. */
async function workerTtft(url: string, prompt: string, adapterId: string | null): Promise<number> {
  const t0 = now();
  for await (const ev of streamGeneration({ baseUrl: url, protocol: "lorax" }, { prompt, adapterId, params: { max_new_tokens: TOKENS, temperature: 0, ignore_eos: true } })) {
    if (ev.type === "token") return now() - t0;
  }
  return NaN;
}

function ordered(r: StreamResult): boolean {
  return r.indices.every((v, i) => v === i);
}

async function main() {
  const real = realWorkerAvailable() && !FAKE;
  const worker = await startTestWorker({ fake: !real, delayMs: 10 });
  const web = await startWebServer({ worker: { url: worker.url } });
  const rows: string[][] = [];
  const prompt = "The best thing about small models is";
  try {
    // warm up both paths (first compile of the routes, adapter load)
    await webStream(web.url, prompt, "sql");
    await workerTtft(worker.url, prompt, "sql");

    // ── W1 ──
    if (chromiumAvailable()) {
      const browser = await launchBrowser();
      const page = await browser.newPage();
      await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=${TOKENS}&p.ignore_eos=1`);
      await page.waitForSelector('[data-testid="run"]:not([disabled])');
      const browserTtft: number[] = [];
      const workerT: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        workerT.push(await workerTtft(worker.url, prompt, "sql"));
        const r = (await page.evaluate(clickRunUntilFirstToken())) as { click: number; dom: number };
        const ms = r.dom - r.click;
        browserTtft.push(ms);
        await page.waitForSelector('[data-testid="output-pane"][data-status="done"]', { timeout: 60_000 });
        await page.waitForSelector('[data-testid="run"]:not([disabled])');
      }
      const overhead = browserTtft.map((b, i) => b - workerT[i]!);
      rows.push(["W1", "web overhead on TTFT (browser − worker), median", `${f(median(overhead))} ms`, `browser ${f(median(browserTtft))} ms, worker ${f(median(workerT))} ms, ${RUNS} runs`, "≤ 15 ms"]);

      // ── W4: click Stop → the pane says "stopped", and characters that arrive after the click ──
      // a long run (1000 tokens: the demo model's context is 1024), stopped after its first tokens
      await page.goto(`${web.url}/playground?adapter=sql&mode=raw&prompt=${encodeURIComponent(prompt)}&p.max_new_tokens=1000&p.ignore_eos=1`);
      await page.waitForSelector('[data-testid="run"]:not([disabled])');
      const stopMs: number[] = [];
      let lateChars = 0;
      for (let i = 0; i < RUNS; i++) {
        const r = (await page.evaluate(`new Promise((resolve, reject) => {
          const pane = document.querySelector('[data-testid="output-pane"]');
          const text = () => pane.querySelector('[data-testid="raw-output"]')?.textContent ?? "";
          // as in first-token.ts: the clear and the first token may come in one render
          const before = text().length;
          let cleared = before === 0, seen = 0, t0 = 0, shown = "";
          const timer = setTimeout(() => { obs.disconnect(); reject(new Error("the pane never said stopped")); }, 60000);
          const obs = new MutationObserver(() => {
            if (t0 === 0) {
              const t = text();
              if (t === "") cleared = true;
              else if ((cleared || t.length < before) && ++seen >= 3) {
                cleared = true;
                const stop = document.querySelector('[data-testid="stop"]');
                if (!stop) { obs.disconnect(); clearTimeout(timer); reject(new Error("the run ended before Stop")); return; }
                shown = t;
                t0 = performance.now();
                stop.click();
              }
            } else if (pane.getAttribute("data-status") === "stopped") {
              obs.disconnect();
              clearTimeout(timer);
              const ms = performance.now() - t0;
              // anything that still arrives after the click shows up within a second or two
              setTimeout(() => resolve({ ms, late: text().length - shown.length }), 1500);
            }
          });
          obs.observe(pane, { subtree: true, childList: true, characterData: true, attributes: true });
          document.querySelector('[data-testid="run"]').click();
        })`)) as { ms: number; late: number };
        stopMs.push(r.ms);
        lateChars += Math.abs(r.late);
        await page.waitForSelector('[data-testid="run"]:not([disabled])');
      }
      rows.push(["W4", "click Stop → pane \"stopped\" (median / max)", `${f(median(stopMs))} / ${f(Math.max(...stopMs))} ms`, `characters shown after the click: ${lateChars} over ${RUNS} runs`, "≤ 500 ms, none after"]);
      await browser.close();
    } else rows.push(["W1", "web overhead on TTFT", "not measured", "no Chromium", "≤ 15 ms"]);

    // ── W2 ──
    const adapters = ["sql", "spam", "ner", "e2e", "sentiment", "wordnet", "cmudict", null];
    const eight = await Promise.all(adapters.map((a) => webStream(web.url, prompt, a)));
    const expected8 = await Promise.all(adapters.map((a) => workerAnswer(worker.url, prompt, a, TOKENS, real, true)));
    const ok8 = eight.every((r, i) => ordered(r) && r.text === expected8[i] && r.status === "done");
    const d8 = eight.flatMap((r) => r.delays);
    rows.push(["W2", "per-token delay, 8 concurrent streams (p50 / p99)", `${f(median(d8), 2)} / ${f(quantile(d8, 0.99), 2)} ms`, `${d8.length} tokens; lost/reordered: ${ok8 ? "none" : "YES"}`, "p99 ≤ 5 ms, none lost"]);

    // ── W3 ──
    const n = 50;
    const clients = Array.from({ length: n }, (_, i) => adapters[i % adapters.length]!);
    const t0 = now();
    const fifty = await Promise.all(clients.map((a, i) => webStream(web.url, prompt, a, i === 0 ? { dropAfter: 3 } : {})));
    const wall = now() - t0;
    const expected = new Map(await Promise.all(adapters.map(async (a) => [a, await workerAnswer(worker.url, prompt, a, TOKENS, real, true)] as const)));
    const complete = fifty.filter((r) => r.status === "done").length;
    const bad = fifty.filter((r, i) => !ordered(r) || r.text !== expected.get(clients[i]!)).length;
    const d50 = fifty.flatMap((r) => r.delays);
    rows.push([
      "W3",
      "50 concurrent streaming clients (p99 delay)",
      `${f(quantile(d50, 0.99), 2)} ms`,
      `${complete}/${n} complete, ${bad} lost/reordered (one resumed after a drop), ${f(wall / 1000, 1)} s wall`,
      "all complete, none lost",
    ]);
  } finally {
    await web.stop();
    await worker.stop();
  }
  const cpu = os.cpus()[0]?.model ?? "cpu";
  console.log(`\nMachine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}; worker: ${real ? "real (data/demo, loraland-mini)" : "LoRAX-protocol stand-in (no model)"}; ${TOKENS} new tokens per stream\n`);
  console.log("| id | figure | result | detail | goal |\n|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
