/**
 * The main-thread side of load-worker.mjs: one long-lived worker thread that reads adapter tensors
 * from disk and converts them to fp32, so a cold adapter load costs the engine loop one message,
 * not tens of milliseconds of copying (P5). The worker is started ahead of the first load
 * (`warmLoadWorker`, on registration), is referenced only while a read is in flight (an idle worker
 * never keeps the process alive), and is replaced if it dies.
 */
import { Worker } from "node:worker_threads";

export interface TensorRead {
  name: string;
  dtype: string;
  /** absolute byte offsets in the file */
  begin: number;
  end: number;
  /** elements */
  n: number;
}

/** the worker could not run the read (it failed to start or died): the caller may read in-thread */
export class LoadWorkerUnavailable extends Error {}

type Reply = { id: number; ok: true; buffers: ArrayBuffer[] } | { id: number; ok: false; message: string };

let worker: Worker | null = null;
let broken = false;
let nextId = 1;
const inFlight = new Map<number, { resolve: (b: ArrayBuffer[]) => void; reject: (e: Error) => void }>();

function failAll(err: Error): void {
  for (const p of inFlight.values()) p.reject(err);
  inFlight.clear();
}

function ensureWorker(): Worker | null {
  if (worker || broken) return worker;
  let w: Worker;
  try {
    w = new Worker(new URL("./load-worker.mjs", import.meta.url));
  } catch {
    broken = true; // e.g. bundled without the .mjs file: loads run in-thread
    return null;
  }
  let answered = false;
  w.unref();
  w.on("message", (r: Reply) => {
    answered = true;
    const p = inFlight.get(r.id);
    if (!p) return;
    inFlight.delete(r.id);
    if (inFlight.size === 0) w.unref();
    if (r.ok) p.resolve(r.buffers);
    else p.reject(new Error(r.message));
  });
  const died = (err: Error) => {
    if (worker === w) worker = null;
    failAll(new LoadWorkerUnavailable(`adapter load worker stopped: ${err.message}`));
  };
  w.on("error", (err) => {
    // an error before it ever answered means it cannot start here (no loader, missing file)
    if (!answered) broken = true;
    died(err);
  });
  w.on("exit", (code) => died(new Error(`exit code ${code}`)));
  worker = w;
  return w;
}

/** Starts the worker thread now, so the first cold load does not wait for it to boot. */
export function warmLoadWorker(): void {
  ensureWorker();
}

/**
 * Reads `tensors` of `file` as fp32 in the worker; resolves with one ArrayBuffer per tensor
 * (transferred, not copied). Rejects with the worker's message for I/O errors, or with
 * LoadWorkerUnavailable when no worker can run it.
 */
export function readTensorsInWorker(file: string, tensors: TensorRead[]): Promise<ArrayBuffer[]> {
  const w = ensureWorker();
  if (!w) return Promise.reject(new LoadWorkerUnavailable("no adapter load worker"));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    inFlight.set(id, { resolve, reject });
    w.ref(); // a read in flight keeps the process alive (a CLI awaiting its adapter)
    w.postMessage({ id, file, tensors });
  });
}
