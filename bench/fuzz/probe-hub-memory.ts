/**
 * Probe for issue 12 item 6: six Hub repos of 300 MB registered at once against a local server
 * with the Hub's layout (the weights are zeros under a valid safetensors header). Prints the
 * worker's resident set before and at its peak (sampled from /proc every 50 ms), and each
 * registration's status.
 *
 *   npx tsx bench/fuzz/probe-hub-memory.ts [--mb 300] [--repos 6]
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { ROOT, postJson, startWorker } from "../../tests/worker/worker-helpers";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const mb = arg("mb", 300);
const repos = arg("repos", 6);
const size = mb * 1e6;
const header = Buffer.from(JSON.stringify({ "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": { dtype: "F32", shape: [size / 4], data_offsets: [0, size] } }));
const config = JSON.stringify({ peft_type: "LORA", r: 8, lora_alpha: 16, target_modules: ["q_proj"] });
const chunk = Buffer.alloc(1 << 20);

const hub = http.createServer((req, res) => {
  if (req.url?.endsWith("/adapter_config.json")) return void res.writeHead(200, { "content-length": config.length }).end(config);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  res.writeHead(200, { "content-length": 8 + header.length + size });
  res.write(len);
  res.write(header);
  let sent = 0;
  const more = () => {
    while (sent < size) {
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      if (!res.write(chunk.subarray(0, n))) return void res.once("drain", more);
    }
    res.end();
  };
  res.on("error", () => {});
  more();
});
await new Promise<void>((r) => hub.listen(0, "127.0.0.1", () => r()));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "probe-hub-"));
const w = await startWorker(["--model", path.join(ROOT, "data/demo/base"), "--adapters", path.join(ROOT, "data/demo/adapters"), "--hub-cache", path.join(tmp, "cache")], {
  env: { HF_ENDPOINT: `http://127.0.0.1:${(hub.address() as { port: number }).port}`, HF_TOKEN: "" },
});
/** resident MiB of the worker's process tree (tsx's wrapper and the node process it starts) */
const rss = (pid = w.child.pid!): number => {
  let kb = 0;
  try {
    kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  } catch {
    return 0;
  }
  const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return kb / 1024 + children.reduce((sum, c) => sum + rss(Number(c)), 0);
};
try {
  const before = rss();
  let peak = before;
  const iv = setInterval(() => (peak = Math.max(peak, rss())), 50);
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: repos }, (_, i) => postJson(`${w.url}/adapters`, { id: `org/big${i}`, source: "hub", repo: `org/big${i}` })));
  clearInterval(iv);
  const statuses = results.map((r) => `${r.status} ${(r.body?.code ?? r.body?.error_type ?? "")}`);
  console.log(JSON.stringify({ probe: `${repos} Hub repos of ${mb} MB registered at once`, rss_before_mb: Math.round(before), rss_peak_mb: Math.round(peak), seconds: Math.round((performance.now() - t0) / 100) / 10, statuses }));
} finally {
  await w.stop();
  hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
