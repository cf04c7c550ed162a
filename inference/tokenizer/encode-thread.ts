/**
 * The main-thread side of encode-worker.mjs: one tokenizer thread per worker, started on first
 * use, unreferenced while idle (it never keeps the process alive), replaced if it dies. Jobs run
 * one at a time in the thread; at most `maxPending` wait, more are refused (TokenizerBusy) so a
 * flood of long prompts cannot queue without bound.
 */
import { Worker } from "node:worker_threads";
import type { TokenSpan } from "./token-spans.mjs";

/** no thread can run here (failed to start, died): the caller may encode in-thread */
export class TokenizerThreadUnavailable extends Error {}
/** `maxPending` jobs are already waiting */
export class TokenizerBusy extends Error {}

type Reply = { id: number; ok: true; ids?: Int32Array; spans?: TokenSpan[] } | { id: number; ok: false; message: string };

export class TokenizerThread {
  private worker: Worker | null = null;
  private broken = false;
  private nextId = 1;
  private readonly inFlight = new Map<number, { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }>();

  constructor(private readonly dir: string, private readonly maxPending = 8) {}

  get pending(): number {
    return this.inFlight.size;
  }

  /** Boot the thread now (it loads tokenizer.json), so the first long prompt does not wait for it. */
  warm(): void {
    this.ensure();
  }

  async encode(text: string): Promise<number[]> {
    const r = await this.call({ op: "encode", text });
    return Array.from(r.ids!);
  }

  /** ids and per-token text spans (see token-spans.mjs); `special`: ids shown as empty spans */
  async spans(text: string, special: number[]): Promise<TokenSpan[]> {
    return (await this.call({ op: "spans", text, special })).spans!;
  }

  close(): void {
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
  }

  private call(msg: Record<string, unknown>): Promise<Reply & { ok: true }> {
    if (this.inFlight.size >= this.maxPending) return Promise.reject(new TokenizerBusy(`${this.inFlight.size} long inputs are already being tokenized`));
    const w = this.ensure();
    if (!w) return Promise.reject(new TokenizerThreadUnavailable("no tokenizer thread"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, ...msg });
    });
  }

  private ensure(): Worker | null {
    if (this.worker || this.broken) return this.worker;
    let w: Worker;
    try {
      w = new Worker(new URL("./encode-worker.mjs", import.meta.url), { workerData: { dir: this.dir } });
    } catch {
      this.broken = true; // e.g. bundled without the .mjs file
      return null;
    }
    let answered = false;
    w.unref();
    w.on("message", (r: Reply) => {
      answered = true;
      const p = this.inFlight.get(r.id);
      if (!p) return;
      this.inFlight.delete(r.id);
      if (this.inFlight.size === 0) w.unref();
      if (r.ok) p.resolve(r);
      else p.reject(new Error(r.message));
    });
    const died = (err: Error) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.inFlight.values()) p.reject(new TokenizerThreadUnavailable(`tokenizer thread stopped: ${err.message}`));
      this.inFlight.clear();
    };
    w.on("error", (err) => {
      if (!answered) this.broken = true; // it cannot start here: encode in-thread from now on
      died(err);
    });
    w.on("exit", (code) => died(new Error(`exit code ${code}`)));
    this.worker = w;
    return w;
  }
}
