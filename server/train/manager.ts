/**
 * Training runs of a web server: ONE runs at a time per server process, the others wait in the
 * `queued` state (oldest first, their place shown); each run trains in a child process
 * (server/train/child.ts, niced) so the web server's event loop keeps serving and streaming.
 *
 * State lives in the database (train_runs, train_points): every optimizer step's progress is
 * written (at most one write in flight; the latest wins) and renews the run's lease, so any server
 * and any tab sees it. At start a manager resumes the runs a previous process left `running`
 * (PGlite: all of them, it is the only process; Postgres: those whose lease ran out) from their
 * last checkpoint under DATA_DIR/train/runs/<id>; `queued` runs stay queued until their turn.
 *
 * On done: the PEFT folder moves to DATA_DIR/adapters/<slug> (where uploads go), is registered
 * with the worker, and becomes a `user` catalog adapter owned by the run's owner; for a demo task's
 * train split an eval of the adapter and the base model on the task's test split is started
 * through the eval harness (server/eval/run-manager.ts) and its id kept on the run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Db } from "../../db/client";
import type { TrainRunStatus } from "../../db/schema/train";
import type { TrainProgress } from "../../inference/train/trainer";
import { getCatalogAdapter } from "../db-queries/catalog";
import { addUserAdapter } from "../db-queries/evals";
import {
  addTrainEvalRun,
  claimTrainRun,
  resetPointsToCheckpoint,
  finishTrainRun,
  getTrainDataset,
  getTrainRun,
  listTrainPoints,
  queuedRunIds,
  recordTrainProgress,
  setAdapterTemplate,
  type TrainPointRow,
  type TrainRunRow,
} from "../db-queries/train";
import type { Env } from "../env";
import { inferenceUrl } from "../env";
import { LoraLandError } from "../errors";
import { EvalBusyError, startWebRun } from "../eval/run-manager";
import { DEFAULT_TASKS_DIR, loadTaskCards, loadTestExamples, type TaskCard } from "../eval/tasks";
import { isSharedDb } from "../recover";
import { registerAdapter, unregisterAdapter, WorkerError, type InferenceProtocol } from "../inference/client";
import { datasetsDir, trainSplitFile } from "./datasets";
import { engineConfig } from "./plan";
import type { ChildMessage, ParentMessage } from "./protocol";
import { pointView, runView, type TrainPointView, type TrainRunView, type Viewer } from "./view";

export interface TrainManagerOptions {
  dataDir: string;
  modelDir: string;
  /** the worker the finished adapters are registered with (and evaluated on) */
  inferenceUrl: string;
  protocol: InferenceProtocol;
  /** the project root (where server/train/child.ts and node_modules/tsx are) */
  root?: string;
  tasksDir?: string;
  /** a running run's lease: another server resumes it once this long passes without a write */
  leaseMs?: number;
  /** start the eval of a demo task's adapter when done (default true) */
  evalAfter?: boolean;
  /** rows of the test split the eval runs (default: the full split, which becomes the catalog's figure) */
  evalLimit?: number | null;
  /** the child's niceness: training yields the CPU to serving (default 10) */
  nice?: number;
  /** extra environment for the training process */
  childEnv?: Record<string, string>;
  log?: (line: string) => void;
}

interface Active {
  runId: number;
  child: ChildProcess;
  /** set when a cancel (here or through another server) or a stop asked the child to end */
  ending: "cancel" | "stop" | null;
  /** points not yet written, and the latest progress */
  pending: Omit<TrainPointRow, "runId">[];
  latest: TrainProgress | null;
  writing: Promise<void> | null;
  /** settles when the run's row has its final state (or the manager stopped) */
  finished: Promise<void>;
  lastLog: string[];
}

export function runDir(dataDir: string, id: number): string {
  return path.join(/*turbopackIgnore: true*/ dataDir, "train", "runs", String(id));
}

const ENDED: TrainRunStatus[] = ["done", "failed", "cancelled"];
/** the training process of a run, noted in its folder (a restarted server waits for the old one) */
const PID_FILE = "trainer.pid";

/** Is `pid` a training process (server/train/child.ts) still running? Linux's /proc says; elsewhere: any live process. */
function trainerAlive(pid: number): { alive: boolean; sure: boolean } {
  try {
    return { alive: fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(path.join("server", "train", "child.ts")), sure: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" && fs.existsSync("/proc/self")) return { alive: false, sure: true };
  }
  try {
    process.kill(pid, 0);
    return { alive: true, sure: false };
  } catch (e) {
    return { alive: (e as NodeJS.ErrnoException).code === "EPERM", sure: false };
  }
}

/** Wait until the training process noted in `pidFile` is gone (SIGKILL after `ms` when it surely is one). */
async function waitForPrevious(pidFile: string, ms: number): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, "utf8"));
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  const deadline = Date.now() + ms;
  while (trainerAlive(pid).alive && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const now = trainerAlive(pid);
  if (now.alive && now.sure) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}


export class TrainManager {
  readonly opts: Required<Omit<TrainManagerOptions, "childEnv" | "log" | "evalLimit">> & Pick<TrainManagerOptions, "childEnv" | "evalLimit"> & { log: (line: string) => void };
  private active: Active | null = null;
  private pumping: Promise<void> | null = null;
  private again = false;
  private booted = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private listeners = new Set<() => void>();
  /** background work after done (the eval start), for tests to await */
  private after = new Set<Promise<void>>();

  constructor(
    readonly db: Db,
    opts: TrainManagerOptions,
  ) {
    this.opts = {
      root: process.cwd(),
      tasksDir: DEFAULT_TASKS_DIR,
      leaseMs: 15_000,
      evalAfter: true,
      nice: 10,
      log: (line) => console.error(`[train] ${line}`),
      ...opts,
    };
  }

  /** The run training in this process, if any. */
  activeRunId(): number | null {
    return this.active?.runId ?? null;
  }

  onChange(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private notify() {
    for (const l of this.listeners) l();
  }

  /** Start the next run if this server trains none (resuming interrupted runs first). Never throws. */
  pump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.again = false;
        if (this.active) break;
        try {
          const resume = !this.booted || isSharedDb(this.db);
          const anyRunning = !this.booted && !isSharedDb(this.db);
          this.booted = true;
          const row = (resume ? await claimTrainRun(this.db, { leaseMs: this.opts.leaseMs, resume: true, anyRunning }) : null) ?? (await claimTrainRun(this.db, { leaseMs: this.opts.leaseMs, resume: false }));
          if (row) await this.begin(row);
        } catch (err) {
          this.opts.log(`could not start the next run: ${err instanceof Error ? err.message : String(err)}`);
        }
      } while (this.again && !this.active && !this.stopped);
    })().finally(() => {
      this.pumping = null;
    });
    // queued runs of other servers and expired leases (Postgres) are picked up by a slow poll
    if (!this.timer && !this.stopped) {
      this.timer = setInterval(() => this.pump(), Math.max(1000, Math.min(10_000, this.opts.leaseMs))).unref();
    }
  }

  /** Settles when the pump in progress (if any) has claimed or found nothing. */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  private datasetFile(row: TrainRunRow): Promise<string> {
    const ref = row.dataset;
    if (ref.kind === "demo") return Promise.resolve(trainSplitFile(ref.task, this.opts.tasksDir));
    return getTrainDataset(this.db, { id: ref.id }).then((d) => {
      if (!d) throw new LoraLandError("NOT_FOUND", `dataset: the uploaded dataset ${ref.id} was removed`);
      return path.join(datasetsDir(this.opts.dataDir), d.id, d.fileName);
    });
  }

  private async begin(row: TrainRunRow): Promise<void> {
    const dir = runDir(this.opts.dataDir, row.id);
    let config;
    try {
      config = engineConfig(row.config, { modelDir: this.opts.modelDir, datasetFile: await this.datasetFile(row), outputDir: dir });
    } catch (err) {
      await finishTrainRun(this.db, { id: row.id, status: "failed", error: err instanceof Error ? err.message : String(err) });
      this.notify();
      this.pump();
      return;
    }
    fs.mkdirSync(dir, { recursive: true });
    await recordTrainProgress(this.db, { id: row.id, leaseMs: this.opts.leaseMs, checkpointDir: dir });
    // a previous server's training process saves a checkpoint and ends once that server is gone: wait for it
    await waitForPrevious(path.join(dir, PID_FILE), 30_000);

    const child = spawn(process.execPath, ["--import", "tsx", path.join(/*turbopackIgnore: true*/ this.opts.root, "server", "train", "child.ts")], {
      cwd: this.opts.root,
      env: { ...process.env, ...this.opts.childEnv },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    if (child.pid !== undefined) fs.writeFileSync(path.join(dir, PID_FILE), String(child.pid));
    try {
      if (child.pid !== undefined && this.opts.nice) os.setPriority(child.pid, this.opts.nice);
    } catch {
      // not permitted here: it trains at the server's priority
    }
    let resolveFinished!: () => void;
    const active: Active = { runId: row.id, child, ending: null, pending: [], latest: null, writing: null, finished: new Promise((r) => (resolveFinished = r)), lastLog: [] };
    this.active = active;
    child.stderr!.on("data", (chunk: Buffer) => {
      active.lastLog.push(...chunk.toString().split("\n").filter(Boolean));
      active.lastLog.splice(0, Math.max(0, active.lastLog.length - 20));
    });

    let outcome: ChildMessage | null = null;
    child.on("message", (m: ChildMessage) => {
      if (m.type === "ready") child.send({ type: "start", config } satisfies ParentMessage);
      else if (m.type === "starting") {
        // the stored curve becomes the checkpoint's before any new point is written: points after it
        // are redone by the resumed run, and points up to it that the last server never stored (its
        // process died with them in flight) come back from the checkpoint
        if (m.checkpointStep !== null) this.opts.log(`run #${row.id}: resuming from its checkpoint at step ${m.checkpointStep}`);
        const prev = active.writing;
        const w: Promise<void> = (async () => {
          await prev;
          await resetPointsToCheckpoint(this.db, {
            id: row.id,
            step: m.checkpointStep ?? 0,
            points: m.curve.map((p) => ({ step: p.step, epoch: p.epoch, trainLoss: p.loss, valLoss: p.val_loss ?? null, lr: p.lr, tokensPerS: null })),
          });
        })().catch((err: unknown) => this.opts.log(`run #${row.id}: ${err instanceof Error ? err.message : String(err)}`));
        active.writing = w;
        void w.finally(() => {
          if (active.writing === w) active.writing = null;
        });
      }
      else if (m.type === "progress") {
        const p = m.progress;
        active.latest = p;
        active.pending.push({ step: p.step, epoch: p.epoch, trainLoss: p.loss, valLoss: p.val_loss ?? null, lr: p.lr, tokensPerS: p.tokens_per_s });
        this.flush(active);
      } else if (m.type === "log") {
        active.lastLog.push(m.line);
        active.lastLog.splice(0, Math.max(0, active.lastLog.length - 20));
      } else outcome = m;
    });
    // the lease is renewed even while a long step runs
    const renew = setInterval(() => this.flush(active), Math.max(500, this.opts.leaseMs / 3));
    renew.unref();

    child.once("exit", (code, signal) => {
      clearInterval(renew);
      void (async () => {
        try {
          await this.flush(active);
          await this.settle(row, active, outcome, code, signal);
        } catch (err) {
          this.opts.log(`run #${row.id}: ${err instanceof Error ? err.message : String(err)}`);
          await finishTrainRun(this.db, { id: row.id, status: "failed", error: err instanceof Error ? err.message : String(err) }).catch(() => {});
        } finally {
          if (this.active === active) this.active = null;
          resolveFinished();
          this.notify();
          this.pump();
        }
      })();
    });
  }

  /** Write the pending points and the latest progress (one write at a time); a row no longer running ends the child. */
  private flush(active: Active): Promise<void> {
    if (active.writing) return active.writing.then(() => (active.pending.length ? this.flush(active) : undefined));
    const points = active.pending.splice(0);
    const p = active.latest;
    const w: Promise<void> = (async () => {
      try {
        const still = await recordTrainProgress(this.db, {
          id: active.runId,
          leaseMs: this.opts.leaseMs,
          points,
          progress: p ? { step: p.step, totalSteps: p.total_steps, epoch: p.epoch, trainLoss: p.loss, valLoss: p.val_loss ?? null, tokensPerS: p.tokens_per_s, etaS: p.eta_s, seconds: p.seconds } : undefined,
        });
        if (!still && active.ending === null && active.child.exitCode === null) {
          // cancelled through another server (its row says so): stop here
          active.ending = "cancel";
          this.send(active, { type: "cancel" });
          this.killLater(active, 20_000);
        }
      } catch (err) {
        active.pending.unshift(...points);
        this.opts.log(`run #${active.runId}: progress write failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
    active.writing = w;
    void w.finally(() => {
      if (active.writing === w) active.writing = null;
      this.notify();
    });
    return w;
  }

  private send(active: Active, m: ParentMessage) {
    try {
      if (active.child.connected) active.child.send(m);
    } catch {
      // already gone
    }
  }

  private killLater(active: Active, ms: number) {
    setTimeout(() => {
      if (active.child.exitCode === null && active.child.signalCode === null) active.child.kill("SIGKILL");
    }, ms).unref();
  }

  private async settle(row: TrainRunRow, active: Active, outcome: ChildMessage | null, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const dir = runDir(this.opts.dataDir, row.id);
    if (active.ending === "stop") return; // the row stays running: the next process resumes it
    if (active.ending === "cancel") {
      await finishTrainRun(this.db, { id: row.id, status: "cancelled", from: ["running"] });
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    if (outcome?.type === "done") {
      await this.complete(row, dir);
      return;
    }
    const tail = active.lastLog.slice(-3).join(" | ");
    const error =
      outcome?.type === "error"
        ? outcome.field && !outcome.message.startsWith(`${outcome.field}:`) ? `${outcome.field}: ${outcome.message}` : outcome.message
        : `the training process ended unexpectedly (${signal ?? `exit code ${code}`})${tail ? `: ${tail}` : ""}`;
    this.opts.log(`run #${row.id} failed: ${error}`);
    await finishTrainRun(this.db, { id: row.id, status: "failed", error, from: ["running"] });
  }

  /** The adapter goes where uploads go, is registered with the worker and listed; then the eval. */
  private async complete(row: TrainRunRow, dir: string): Promise<void> {
    const slug = row.adapterSlug;
    const root = path.join(/*turbopackIgnore: true*/ this.opts.dataDir, "adapters");
    const final = path.join(root, slug);
    fs.mkdirSync(root, { recursive: true });
    if (fs.existsSync(final)) throw new Error(`name: an adapter folder "${slug}" already exists under DATA_DIR/adapters; the trained adapter stays in ${dir}`);
    const tmp = path.join(root, `.train-${slug}-${randomBytes(4).toString("hex")}`);
    fs.mkdirSync(tmp);
    for (const f of ["adapter_config.json", "adapter_model.safetensors"]) fs.renameSync(path.join(dir, f), path.join(tmp, f));
    fs.renameSync(tmp, final);
    const card = row.taskCard ? (loadTaskCards(this.opts.tasksDir).find((c) => c.slug === row.taskCard) ?? null) : null;
    try {
      // a worker restarting (offline, 503) is waited for a minute
      for (let attempt = 0; ; attempt++) {
        try {
          await registerAdapter(this.opts.inferenceUrl, { id: slug, source: "local", path: final }, AbortSignal.timeout(120_000));
          break;
        } catch (err) {
          if (!(err instanceof WorkerError) || (err.status !== 0 && err.status !== 503) || attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 3000));
        }
      }
    } catch (err) {
      // the trained weights are kept in the run's folder (not served, not listed)
      for (const f of ["adapter_config.json", "adapter_model.safetensors"]) fs.renameSync(path.join(final, f), path.join(dir, f));
      fs.rmSync(final, { recursive: true, force: true });
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`the worker did not take the trained adapter (its files are kept in the run's folder): ${why}`);
    }
    try {
      const c = row.config;
      const targets = c.adapter.target_modules === "all-linear" ? "all linear layers" : c.adapter.target_modules.join(", ");
      await addUserAdapter(this.db, {
        slug,
        adapterId: slug,
        baseModelId: row.baseModelId,
        hfRepo: null,
        description: `Trained here (training run #${row.id}) on ${row.datasetName}: LoRA r=${c.adapter.r}, alpha ${c.adapter.alpha} on ${targets}; ${c.trainer.epochs} epoch${c.trainer.epochs === 1 ? "" : "s"} at learning rate ${c.trainer.learning_rate}, batch ${c.trainer.batch_size}.`,
        task: card && { slug: card.slug, name: card.name, category: card.category, promptTemplate: card.prompt_template, inputColumns: card.input_columns, outputColumn: card.output_column, metric: card.metric },
        ownerId: row.ownerId,
      });
      if (!card) {
        const { templateColumns } = await import("../../components/playground/template");
        await setAdapterTemplate(this.db, { slug, promptTemplate: c.prompt_template, inputColumns: templateColumns(c.prompt_template), targetColumn: c.output_column });
      }
    } catch (err) {
      await unregisterAdapter(this.opts.inferenceUrl, slug);
      for (const f of ["adapter_config.json", "adapter_model.safetensors"]) fs.renameSync(path.join(final, f), path.join(dir, f));
      fs.rmSync(final, { recursive: true, force: true });
      throw err;
    }
    await finishTrainRun(this.db, { id: row.id, status: "done", from: ["running"] });
    fs.rmSync(dir, { recursive: true, force: true });
    if (card && this.opts.evalAfter && fs.existsSync(path.join(/*turbopackIgnore: true*/ this.opts.tasksDir, card.slug, "test.jsonl"))) {
      const p = this.startEval(row, card).catch((err: unknown) => this.opts.log(`run #${row.id}: the eval did not start: ${err instanceof Error ? err.message : String(err)}`));
      this.after.add(p);
      void p.finally(() => this.after.delete(p));
    }
  }

  /** The adapter and the base model on the task's test split (one eval run; waits while another eval runs). */
  private async startEval(row: TrainRunRow, card: TaskCard): Promise<void> {
    const adapter = await getCatalogAdapter(this.db, { slug: row.adapterSlug });
    if (!adapter) return;
    const examples = loadTestExamples(card, { tasksDir: this.opts.tasksDir, limit: this.opts.evalLimit ?? undefined });
    const deadline = Date.now() + 60 * 60_000;
    for (;;) {
      try {
        const evalRunId = await startWebRun({
          db: this.db,
          endpoint: { url: this.opts.inferenceUrl, protocol: this.opts.protocol, baseModelId: row.baseModelId },
          modelId: row.baseModelId,
          tasks: [{ slug: adapter.slug, card, adapterId: adapter.adapterId, examples }],
          exampleLimit: this.opts.evalLimit ?? null,
          concurrency: 16,
          // a full split of the adapter's own task: the catalog's measured figures, adapter and base
          headline: (this.opts.evalLimit ?? null) === null,
          ownerId: row.ownerId,
        });
        await addTrainEvalRun(this.db, { id: row.id, evalRunId });
        this.notify();
        return;
      } catch (err) {
        if (!(err instanceof EvalBusyError) || Date.now() > deadline || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }

  /** Settles when the work after a done run (the eval start) has happened. */
  async afterDone(): Promise<void> {
    await Promise.all([...this.after]);
  }

  /**
   * Cancel a queued or running run: a queued one at once; one training here stops at its next
   * step and its folder is removed; one training on another server is marked cancelled and that
   * server stops it at its next write. False when it was neither queued nor running.
   */
  async cancel(runId: number): Promise<boolean> {
    if (await finishTrainRun(this.db, { id: runId, status: "cancelled", from: ["queued"] })) {
      this.notify();
      return true;
    }
    const active = this.active;
    if (active && active.runId === runId) {
      if (active.ending === null) {
        active.ending = "cancel";
        this.send(active, { type: "cancel" });
        this.killLater(active, 20_000);
      }
      await active.finished;
      return (await getTrainRun(this.db, { id: runId }))?.status === "cancelled";
    }
    const ok = await finishTrainRun(this.db, { id: runId, status: "cancelled", from: ["running"] });
    this.notify();
    return ok;
  }

  /** Stop training in this process (the server is going away): a checkpoint is saved, the run stays `running` to be resumed. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle();
    const active = this.active;
    if (active) {
      active.ending = "stop";
      this.send(active, { type: "cancel" });
      this.killLater(active, 30_000);
      await active.finished;
    }
  }

  /** A crash, for tests: the child is killed at once, nothing is written; the run stays `running`. */
  async crash(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle();
    const active = this.active;
    if (active) {
      active.ending = "stop";
      active.child.kill("SIGKILL");
      await active.finished;
    }
  }
}

// ── one manager per database handle in a server process ───────────────────────────────────────
type G = typeof globalThis & { __loralandTrainManagers?: WeakMap<Db, TrainManager> };
const g = globalThis as G;

/** Use this manager for `db` (tests, with their own data dir and worker). */
export function setTrainManager(db: Db, m: TrainManager): void {
  (g.__loralandTrainManagers ??= new WeakMap()).set(db, m);
}

/** The server's manager for its database: created, and its interrupted runs resumed, on first use. */
export function getTrainManager(db: Db, env: Env): TrainManager {
  const all = (g.__loralandTrainManagers ??= new WeakMap());
  let m = all.get(db);
  if (!m) {
    m = new TrainManager(db, { dataDir: env.DATA_DIR, modelDir: env.MODEL_DIR, inferenceUrl: inferenceUrl(env), protocol: env.INFERENCE_PROTOCOL });
    all.set(db, m);
    m.pump();
  }
  return m;
}

export interface TrainRunEvent {
  run: TrainRunView;
  /** curve points after the last event's (the first event: after `afterStep`) */
  points: TrainPointView[];
}

/**
 * A run's state until it ends: from its row (written at every step by whichever server trains
 * it), woken by this process's manager or once a second.
 */
export async function* watchTrainRun(db: Db, runId: number, who: Viewer, opts: { afterStep?: number; signal?: AbortSignal; manager?: TrainManager } = {}): AsyncGenerator<TrainRunEvent> {
  let lastStep = opts.afterStep ?? 0;
  let lastKey = "";
  const manager = opts.manager ?? g.__loralandTrainManagers?.get(db);
  while (!opts.signal?.aborted) {
    const row = await getTrainRun(db, { id: runId });
    if (!row) throw new LoraLandError("NOT_FOUND", `runId: no training run #${runId}`);
    const [queue, points] = await Promise.all([queuedRunIds(db), listTrainPoints(db, { id: runId, afterStep: lastStep })]);
    const run = runView(row, who, queue);
    const key = JSON.stringify(run);
    if (key !== lastKey || points.length > 0) {
      lastKey = key;
      if (points.length) lastStep = points[points.length - 1]!.step;
      yield { run, points: points.map(pointView) };
    }
    if (ENDED.includes(row.status)) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, 1000);
      const off = manager?.onChange(done);
      function done() {
        clearTimeout(t);
        off?.();
        opts.signal?.removeEventListener("abort", done);
        resolve();
      }
      opts.signal?.addEventListener("abort", done, { once: true });
    });
  }
}
