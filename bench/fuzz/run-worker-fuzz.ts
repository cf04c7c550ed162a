/**
 * `npm run fuzz:worker -- [--seconds 60] [--seed N] [--runners 3]`: starts the real worker on the
 * tiny-llama fixture (its adapters, a Hub endpoint that refuses connections, a temp data folder),
 * fuzzes every route for the time given (worker-fuzz.ts) and prints the table. Exit code 1 when a
 * 5xx, a hang or a stall over 500 ms of the concurrent stream was seen.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FIXTURES, startWorker } from "../../tests/worker/worker-helpers";
import { formatReport, fuzzWorker } from "./worker-fuzz";

const arg = (name: string): number | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
};
const fx = path.join(FIXTURES, "tiny-llama");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "worker-fuzz-"));
const w = await startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--model-id", "tiny-llama", "--max-new-tokens", "64", "--hub-cache", path.join(tmp, "hub")], {
  env: { HF_ENDPOINT: "http://127.0.0.1:9", HF_TOKEN: "", DATA_DIR: tmp },
});
let code = 0;
try {
  const report = await fuzzWorker({ url: w.url, seconds: arg("seconds") ?? 60, seed: arg("seed"), runners: arg("runners"), log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${formatReport(report)}\n`);
  const bad = Object.values(report.routes).reduce((n, s) => n + s.server + s.hangs, 0) + report.stream.stallsOver500ms;
  code = bad > 0 ? 1 : 0;
  if (report.failures.some((f) => f.answer.startsWith("connection failed"))) process.stderr.write(`worker log (tail):\n${w.logs().slice(-6000)}\n`);
} finally {
  const exit = await w.stop();
  if (exit !== 0) {
    process.stderr.write(`the worker exited with ${exit}:\n${w.logs().slice(-4000)}\n`);
    code = 1;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
