/**
 * Issue 10 item 7: the worker's resident set after load (and after a request) stays within the
 * base weights in the chosen format + the KV pool + 600 MiB, for every weight format, on the
 * bundled demo model. RSS is the worker process's VmRSS (/proc, so Linux only); the
 * weights' bytes come from /info (weight_bytes), the KV pool from its token capacity
 * (max_batch_total_tokens) x what one token takes (K and V, f32, every layer).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { postJson, ROOT, startWorker } from "./worker-helpers";

const MODEL = path.join(ROOT, "data/demo/base");
const SLACK = 600 * 2 ** 20;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "memory-rss-"));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const config = JSON.parse(fs.readFileSync(path.join(MODEL, "config.json"), "utf8")) as { num_hidden_layers: number; num_key_value_heads: number; head_dim: number };
const kvBytesPerToken = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 4;

/** the worker process's resident set (Linux /proc; the worker is node itself, no wrapper) */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

it.runIf(process.platform === "linux").each(["f32", "bf16", "f16", "q8", "q4"])("%s: RSS after load and after a request <= weights + KV pool + 600 MiB", { timeout: 240_000 }, async (dtype) => {
  const w = await startWorker(["--model", MODEL, "--adapters", path.join(ROOT, "data/demo/adapters"), "--dtype", dtype], { env: { DATA_DIR: dataDir } });
  try {
    const info = (await (await fetch(`${w.url}/info`)).json()) as { weight_dtype: string; weight_bytes: number; max_batch_total_tokens: number };
    expect(info.weight_dtype).toBe(dtype);
    const bound = info.weight_bytes + info.max_batch_total_tokens * kvBytesPerToken + SLACK;
    const afterLoad = rss(w.child.pid!);
    const r = await postJson(`${w.url}/generate`, { inputs: "Once upon a time", parameters: { adapter_id: "e2e", max_new_tokens: 16 } });
    expect(r.status).toBe(200);
    const afterRequest = rss(w.child.pid!);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    const detail = `${dtype}: RSS ${mib(afterLoad)} after load, ${mib(afterRequest)} after a request; weights ${mib(info.weight_bytes)}, KV ${mib(info.max_batch_total_tokens * kvBytesPerToken)}, bound ${mib(bound)}`;
    process.stderr.write(`${detail}\n`);
    expect(afterLoad, detail).toBeLessThanOrEqual(bound);
    expect(afterRequest, detail).toBeLessThanOrEqual(bound);
  } finally {
    await w.stop();
  }
});
