/**
 * The runner's request plumbing, against a local HTTP server that answers the LoRAX and OpenAI
 * shapes: retry on 429 with Retry-After, clear errors naming the adapter, C requests in flight,
 * adapters interleaved. (Scoring through the real worker is in tests/e2e/eval.test.ts.)
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateOnce, interleave, runEval, type EvalTask } from "../../server/eval/runner";
import { loadTaskCards, loadTestExamples } from "../../server/eval/tasks";

let server: http.Server;
let url = "";
const seen: { path: string; body: Record<string, unknown> }[] = [];
let inFlight = 0;
let maxInFlight = 0;
let fail429 = 0;
let retryAfter = "0";
/**
 * While set, answers are held until `size` requests are in flight (or the last `total` arrived),
 * so a runner keeping C in flight is seen with C in flight however slow the machine is; a runner
 * that never reaches it is released after 10 s and fails the count.
 */
let gate: { size: number; total: number; received: number; held: (() => void)[] } | null = null;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw || "{}") as Record<string, unknown>;
      seen.push({ path: req.url!, body });
      if (fail429 > 0) {
        fail429--;
        res.writeHead(429, { "retry-after": retryAfter, "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: "overloaded", error_type: "overloaded" }));
      }
      const params = (body.parameters ?? {}) as Record<string, unknown>;
      if (params.adapter_id === "missing") {
        res.writeHead(404, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: "adapter missing not found", error_type: "adapter_not_found" }));
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const answer = () => {
        inFlight--;
        res.writeHead(200, { "content-type": "application/json" });
        // echo: the adapter's own answer is the reference of the sql row 0; the base says "the"
        const text = req.url === "/generate" ? (params.adapter_id ? " SELECT 1 " : " the") : "x";
        res.end(JSON.stringify(req.url === "/generate" ? { generated_text: text } : { choices: [{ text: ` ${String(body.model)}` }] }));
      };
      if (!gate) return void setTimeout(answer, 5);
      const g = gate;
      g.received++;
      g.held.push(answer);
      const release = () => g.held.splice(0).forEach((a) => a());
      if (g.held.length >= g.size || g.received >= g.total) release();
      else setTimeout(release, 10_000).unref();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("runner protocol", () => {
  it("sends LoRAX /generate greedy with the metric's budget, retries 429, and errors name the adapter", async () => {
    fail429 = 2;
    seen.length = 0;
    const out = await generateOnce({ url, protocol: "lorax" }, "p", "sql", 40);
    expect(out.text).toBe(" SELECT 1 ");
    expect(seen.length).toBe(3);
    expect(seen[2]).toEqual({ path: "/generate", body: { inputs: "p", parameters: { adapter_id: "sql", max_new_tokens: 40, do_sample: false } } });
    await expect(generateOnce({ url, protocol: "lorax" }, "p", "missing", 4)).rejects.toThrow(/adapter "missing": worker answered 404: adapter missing not found/);
  });

  it("sends OpenAI /v1/completions with temperature 0; the base model is the base model id", async () => {
    seen.length = 0;
    expect((await generateOnce({ url, protocol: "openai", baseModelId: "loraland-mini" }, "p", null, 4)).text).toBe(" loraland-mini");
    expect(seen[0]).toEqual({ path: "/v1/completions", body: { model: "loraland-mini", prompt: "p", max_tokens: 4, temperature: 0 } });
  });

  it("interleaves adapters and keeps C requests in flight; scores stripped predictions", async () => {
    const cards = loadTaskCards();
    const tasks: EvalTask[] = ["sql", "spam", "ner"].map((slug) => {
      const card = cards.find((c) => c.slug === slug)!;
      return { slug, card, adapterId: slug, examples: loadTestExamples(card, { limit: 4 }) };
    });
    const order = interleave(tasks, true).slice(0, 6).map((j) => `${j.task.slug}:${j.example.index}:${j.adapterId ?? "base"}`);
    expect(order).toEqual(["sql:0:sql", "sql:0:base", "spam:0:spam", "spam:0:base", "ner:0:ner", "ner:0:base"]);

    maxInFlight = 0;
    gate = { size: 5, total: 24, received: 0, held: [] };
    const progress: number[] = [];
    const out = await runEval({ endpoint: { url, protocol: "lorax" }, tasks, concurrency: 5, onProgress: (p) => progress.push(p.done) }).finally(() => (gate = null));
    expect(out.requests).toBe(24);
    expect(progress.at(-1)).toBe(24);
    expect(maxInFlight).toBe(5);
    const sql = out.results.find((r) => r.slug === "sql")!;
    expect(sql.examples[0]!.prediction).toBe("SELECT 1");
    expect(sql.examples[0]!.basePrediction).toBe("the");
    expect(sql.examples.every((e) => e.latencyMs > 0)).toBe(true);
    expect(out.results.map((r) => r.n)).toEqual([4, 4, 4]);
  });

  it("16 lanes all waiting out a 429 at once raise no listener-leak warning on the run's signal", async () => {
    const card = loadTaskCards().find((c) => c.slug === "sql")!;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    fail429 = 16;
    retryAfter = "1";
    try {
      // every lane's first request gets a 429 with Retry-After: 1, so all 16 sleep together
      const out = await runEval({ endpoint: { url, protocol: "lorax" }, tasks: [{ slug: "sql", card, adapterId: "sql", examples: loadTestExamples(card, { limit: 8 }) }], concurrency: 16 });
      expect(out.requests).toBe(16);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
      fail429 = 0;
      retryAfter = "0";
    }
    expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
  });

  it("the first failure stops the run", async () => {
    const card = loadTaskCards().find((c) => c.slug === "sql")!;
    await expect(
      runEval({ endpoint: { url, protocol: "lorax" }, tasks: [{ slug: "sql", card, adapterId: "missing", examples: loadTestExamples(card, { limit: 3 }) }], concurrency: 2 }),
    ).rejects.toThrow(/adapter "missing"/);
  });
});
