/**
 * This machine's memory read bandwidth, the bound batch-1 decode is held to: `threads` worker
 * threads each scan their half (third...) of a 1 GiB shared buffer with Buffer.indexOf of a byte
 * that is not there (memchr: SIMD reads, nothing written), best of `reps` passes. Bytes/s.
 */
import { Worker } from "node:worker_threads";

const SCAN = `
const { parentPort, workerData } = require("node:worker_threads");
const buf = Buffer.from(workerData.sab, workerData.offset, workerData.length);
parentPort.on("message", () => {
  if (buf.indexOf(1) !== -1) throw new Error("the buffer should be all zeros");
  parentPort.postMessage(0);
});
`;

export async function readBandwidth(threads: number, bytes = 2 ** 30, reps = 5): Promise<number> {
  const sab = new SharedArrayBuffer(bytes);
  new Uint8Array(sab).fill(0); // touch every page first
  const part = Math.floor(bytes / threads / 64) * 64;
  const workers = Array.from({ length: threads }, (_, i) => new Worker(SCAN, { eval: true, workerData: { sab, offset: i * part, length: part } }));
  try {
    const pass = () => Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once("message", () => resolve());
      w.once("error", reject);
      w.postMessage(0);
    })));
    await pass(); // warm-up
    let best = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await pass();
      best = Math.max(best, (part * threads) / ((performance.now() - t0) / 1000));
    }
    return best;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
