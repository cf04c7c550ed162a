/**
 * Dataset work off the web server's event loop: a preview tokenizes every row of the file for the
 * row accounting (3-7 s for a demo train split on the 2-core box, far more for a 50 MB upload), and
 * an upload is parsed once for its rows and columns. Both run in one helper process
 * (server/train/child.ts, niced), started on first use, answering in order, and stopped after a
 * minute without work; its answers are cached here per (file, mtime, template, output column,
 * max_length). A dataset problem comes back as a TrainDataError, as in-process code would throw it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TrainDataError } from "../../inference/train/dataset";
import { LoraLandError } from "../errors";
import type { AccountingInput, DatasetPreview } from "./datasets";
import type { ChildMessage, DatasetInspection, HelperRequest } from "./protocol";

const IDLE_MS = 60_000;
/** requests waiting for the helper at most (it answers in order); more are refused with 429 */
const MAX_PENDING = 16;
/** preview rows computed per request (a smaller limit is a slice of the cached answer) */
const PREVIEW_ROWS = 50;

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type G = typeof globalThis & { __loralandTrainHelper?: DatasetHelper };

class DatasetHelper {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private idle: NodeJS.Timeout | null = null;
  private cache = new Map<string, Promise<DatasetPreview>>();

  constructor(private readonly root: string) {}

  private spawnChild(): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(/*turbopackIgnore: true*/ this.root, "server", "train", "child.ts")], {
      cwd: this.root,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    try {
      if (child.pid !== undefined) os.setPriority(child.pid, 10);
    } catch {
      // not permitted: it runs at the server's priority
    }
    child.on("message", (m: ChildMessage) => {
      if (m.type !== "result" && m.type !== "failure") return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === "result") p.resolve(m.value);
      else p.reject(m.kind === "data" ? new TrainDataError(m.message) : new Error(m.message));
      this.armIdle();
    });
    child.once("exit", (code, signal) => {
      if (this.child === child) this.child = null;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new Error(`the dataset helper process ended (${signal ?? `exit code ${code}`})`));
      }
    });
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    return child;
  }

  private armIdle() {
    if (this.idle) clearTimeout(this.idle);
    if (this.pending.size > 0) return;
    this.idle = setTimeout(() => {
      if (this.pending.size === 0 && this.child) {
        this.child.kill();
        this.child = null;
      }
    }, IDLE_MS);
    this.idle.unref();
  }

  private request<T>(make: (id: number) => HelperRequest): Promise<T> {
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new LoraLandError("TOO_MANY_REQUESTS", `the dataset helper has ${this.pending.size} previews waiting: try again in a few seconds`, { retryAfterS: 5 }));
    if (this.idle) clearTimeout(this.idle);
    this.child ??= this.spawnChild();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child!.send(make(id));
    });
  }

  async preview(a: AccountingInput, limit: number): Promise<DatasetPreview> {
    let mtime = 0;
    try {
      mtime = fs.statSync(a.file).mtimeMs;
    } catch {
      throw new TrainDataError(`${path.basename(a.file)}: the dataset file is missing`);
    }
    const key = JSON.stringify([a.file, mtime, a.modelDir, a.promptTemplate, a.outputColumn, a.maxLength]);
    let p = this.cache.get(key);
    if (!p) {
      p = this.request<DatasetPreview>((id) => ({ type: "preview", id, input: a, limit: PREVIEW_ROWS }));
      p.catch(() => this.cache.delete(key));
      if (this.cache.size >= 64) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, p);
    }
    const full = await p;
    return { ...full, rows: full.rows.slice(0, limit) };
  }

  inspect(file: string): Promise<DatasetInspection> {
    return this.request<DatasetInspection>((id) => ({ type: "inspect", id, file }));
  }
}

function helper(): DatasetHelper {
  const g = globalThis as G;
  return (g.__loralandTrainHelper ??= new DatasetHelper(process.cwd()));
}

/** `previewDataset` (server/train/datasets.ts) in the helper process; at most 50 rows. */
export function previewOffLoop(a: AccountingInput, limit = 5): Promise<DatasetPreview> {
  return helper().preview(a, Math.min(limit, PREVIEW_ROWS));
}

/** An uploaded file's rows (JSONL lines that are not objects counted apart) and columns, parsed in the helper process. */
export function inspectOffLoop(file: string): Promise<DatasetInspection> {
  return helper().inspect(file);
}
