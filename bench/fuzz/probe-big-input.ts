/**
 * Probe for issue 12 item 5: a ~1 MB prompt to /tokenize, /generate and /v1/chat/completions
 * while another stream runs. Prints, per request, its status, how long it took, and the largest
 * gap between two events of the concurrent stream (the event-loop stall it caused).
 *
 *   npx tsx bench/fuzz/probe-big-input.ts [--bytes 1000000]
 */
import path from "node:path";
import { ROOT, postJson, startWorker } from "../../tests/worker/worker-helpers";
import { watchStream } from "./stream-watch";

const bytesArg = process.argv.indexOf("--bytes");
const bytes = bytesArg > 0 ? Number(process.argv[bytesArg + 1]) : 1_000_000;
const w = await startWorker(["--model", path.join(ROOT, "data/demo/base"), "--adapters", path.join(ROOT, "data/demo/adapters"), "--max-body-kb", "4096"]);
try {
  const text = "the quick brown fox jumps over the lazy dog. ".repeat(Math.ceil(bytes / 45)).slice(0, bytes);
  const probes: [string, string, unknown][] = [
    ["/tokenize", "/tokenize", { inputs: text }],
    ["/generate", "/generate", { inputs: text, parameters: { max_new_tokens: 4 } }],
    ["/v1/completions", "/v1/completions", { prompt: text, max_tokens: 4 }],
  ];
  for (const [name, route, body] of probes) {
    const s = watchStream(w.url, { inputs: "hello", parameters: { max_new_tokens: 900, ignore_eos_token: true } });
    while (s.events() < 5) await new Promise((r) => setTimeout(r, 10));
    s.resetMax();
    const t0 = performance.now();
    const r = await postJson(`${w.url}${route}`, body);
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
    const gap = s.maxGapMs();
    s.stop();
    await s.done;
    const msg = typeof r.body === "object" && r.body && !Array.isArray(r.body) ? JSON.stringify(r.body).slice(0, 160) : Array.isArray(r.body) ? `[${r.body.length} tokens]` : String(r.body).slice(0, 80);
    console.log(JSON.stringify({ probe: `${name} ${(bytes / 1e6).toFixed(2)} MB`, status: r.status, request_ms: Math.round(ms), concurrent_stream_max_gap_ms: Math.round(gap), answer: msg }));
  }
} finally {
  await w.stop();
}
