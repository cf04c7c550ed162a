/**
 * Training run queries (server/train/): datasets uploaded for training, runs and their loss
 * curves. Small functions taking the db handle, the same on PGlite and Postgres. State changes of
 * a run are conditional updates (`where status = ...`), so two servers sharing a Postgres never
 * both claim one queued run, and a cancel through one server is seen by the one running it.
 */
import { and, asc, desc, eq, gt, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { adapters } from "../../db/schema/catalog";
import { trainDatasets, trainPoints, trainRuns, type TrainDatasetRef, type TrainRowAccounting, type TrainRunConfig, type TrainRunStatus } from "../../db/schema/train";

export type TrainRunRow = typeof trainRuns.$inferSelect;
export type TrainPointRow = typeof trainPoints.$inferSelect;
export type TrainDatasetRow = typeof trainDatasets.$inferSelect;

// ── datasets ─────────────────────────────────────────────────────────────────────────────────
export async function addTrainDataset(db: Db, d: typeof trainDatasets.$inferInsert): Promise<TrainDatasetRow> {
  const [row] = await db.insert(trainDatasets).values(d).returning();
  return row!;
}

export async function getTrainDataset(db: Db, { id }: { id: string }): Promise<TrainDatasetRow | null> {
  const [row] = await db.select().from(trainDatasets).where(eq(trainDatasets.id, id)).limit(1);
  return row ?? null;
}

/** The caller's uploads, newest first (all of them for the admin without an owner). */
export async function listTrainDatasets(db: Db, { ownerId }: { ownerId: string | null }): Promise<TrainDatasetRow[]> {
  const q = db.select().from(trainDatasets);
  return (ownerId === null ? q : q.where(eq(trainDatasets.ownerId, ownerId))).orderBy(desc(trainDatasets.createdAt)).limit(200);
}

export async function removeTrainDataset(db: Db, { id }: { id: string }): Promise<void> {
  await db.delete(trainDatasets).where(eq(trainDatasets.id, id));
}

// ── runs ─────────────────────────────────────────────────────────────────────────────────────
export interface NewTrainRun {
  ownerId: string | null;
  config: TrainRunConfig;
  dataset: TrainDatasetRef;
  datasetName: string;
  taskCard: string | null;
  rowAccounting: TrainRowAccounting;
  baseModelId: string;
  adapterSlug: string;
  totalSteps: number;
}

export async function createTrainRun(db: Db, run: NewTrainRun): Promise<TrainRunRow> {
  const [row] = await db.insert(trainRuns).values({ ...run, status: "queued" }).returning();
  return row!;
}

export async function getTrainRun(db: Db, { id }: { id: number }): Promise<TrainRunRow | null> {
  const [row] = await db.select().from(trainRuns).where(eq(trainRuns.id, id)).limit(1);
  return row ?? null;
}

export async function listTrainRuns(db: Db, { limit = 50, ownerId, status }: { limit?: number; ownerId?: string; status?: TrainRunStatus } = {}): Promise<TrainRunRow[]> {
  return db
    .select()
    .from(trainRuns)
    .where(and(ownerId === undefined ? undefined : eq(trainRuns.ownerId, ownerId), status === undefined ? undefined : eq(trainRuns.status, status)))
    .orderBy(desc(trainRuns.id))
    .limit(limit);
}

/** Queued run ids, oldest first: a run's place in the queue is its index + 1. */
export async function queuedRunIds(db: Db): Promise<number[]> {
  const rows = await db.select({ id: trainRuns.id }).from(trainRuns).where(eq(trainRuns.status, "queued")).orderBy(asc(trainRuns.id));
  return rows.map((r) => r.id);
}

/** Is a slug already promised to a run that may still produce it (queued, running, or done and kept)? */
export async function adapterSlugReserved(db: Db, { slug }: { slug: string }): Promise<boolean> {
  const [row] = await db
    .select({ id: trainRuns.id })
    .from(trainRuns)
    .where(and(eq(trainRuns.adapterSlug, slug), inArray(trainRuns.status, ["queued", "running"])))
    .limit(1);
  return row !== undefined;
}

/**
 * Claim a run for this server: the oldest queued one, or (`resume`) a running one whose lease ran
 * out (a server that is gone; `anyRunning`: every running one, for PGlite where a new process is
 * the only one). Atomic: a run is claimed by one server only. Null when there is none.
 */
export async function claimTrainRun(db: Db, opts: { leaseMs: number; resume: boolean; anyRunning?: boolean }): Promise<TrainRunRow | null> {
  const lease = sql`now() + ${`${Math.max(1, Math.round(opts.leaseMs))} milliseconds`}::interval`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const [candidate] = opts.resume
      ? await db
          .select({ id: trainRuns.id })
          .from(trainRuns)
          .where(and(eq(trainRuns.status, "running"), opts.anyRunning ? undefined : or(isNull(trainRuns.leaseUntil), lt(trainRuns.leaseUntil, sql`now()`))))
          .orderBy(asc(trainRuns.id))
          .limit(1)
      : await db.select({ id: trainRuns.id }).from(trainRuns).where(eq(trainRuns.status, "queued")).orderBy(asc(trainRuns.id)).limit(1);
    if (!candidate) return null;
    const cond = opts.resume
      ? and(eq(trainRuns.id, candidate.id), eq(trainRuns.status, "running"), opts.anyRunning ? undefined : or(isNull(trainRuns.leaseUntil), lt(trainRuns.leaseUntil, sql`now()`)))
      : and(eq(trainRuns.id, candidate.id), eq(trainRuns.status, "queued"));
    const [row] = await db
      .update(trainRuns)
      .set({ status: "running", leaseUntil: lease, startedAt: sql`coalesce(${trainRuns.startedAt}, now())` })
      .where(cond)
      .returning();
    if (row) return row;
    // another server took it first: look again
  }
  return null;
}

export interface TrainProgressUpdate {
  step: number;
  totalSteps: number;
  epoch: number;
  trainLoss: number;
  valLoss?: number | null;
  tokensPerS: number;
  etaS: number;
  seconds: number;
}

/**
 * Record progress of a running run (and renew its lease), with the curve points since the last
 * write. False when the row is no longer running (cancelled through another server): the caller stops.
 */
export async function recordTrainProgress(
  db: Db,
  args: { id: number; leaseMs: number; progress?: TrainProgressUpdate; points?: Omit<TrainPointRow, "runId">[]; checkpointDir?: string; rowAccounting?: TrainRowAccounting },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const p = args.progress;
    const rows = await tx
      .update(trainRuns)
      .set({
        leaseUntil: sql`now() + ${`${Math.max(1, Math.round(args.leaseMs))} milliseconds`}::interval`,
        ...(p
          ? {
              step: p.step,
              totalSteps: p.totalSteps,
              epoch: p.epoch,
              trainLoss: p.trainLoss,
              ...(p.valLoss !== undefined && p.valLoss !== null ? { valLoss: p.valLoss } : {}),
              tokensPerS: p.tokensPerS,
              etaS: p.etaS,
              seconds: p.seconds,
            }
          : {}),
        ...(args.checkpointDir !== undefined ? { checkpointDir: args.checkpointDir } : {}),
        ...(args.rowAccounting !== undefined ? { rowAccounting: args.rowAccounting } : {}),
      })
      .where(and(eq(trainRuns.id, args.id), eq(trainRuns.status, "running")))
      .returning({ id: trainRuns.id });
    if (rows.length === 0) return false;
    if (args.points?.length) {
      await tx
        .insert(trainPoints)
        .values(args.points.map((pt) => ({ ...pt, runId: args.id })))
        .onConflictDoUpdate({
          target: [trainPoints.runId, trainPoints.step],
          set: { epoch: sql`excluded.epoch`, trainLoss: sql`excluded.train_loss`, valLoss: sql`excluded.val_loss`, lr: sql`excluded.lr`, tokensPerS: sql`excluded.tokens_per_s` },
        });
    }
    return true;
  });
}

/**
 * A resumed run's stored curve becomes its checkpoint's: points after `step` are from training the
 * checkpoint did not keep (the resumed run redoes them) and are dropped; the checkpoint's own
 * points (steps ≤ `step`) are added where missing, keeping the stored ones (they have tokens/s).
 */
export async function resetPointsToCheckpoint(db: Db, { id, step, points }: { id: number; step: number; points: Omit<TrainPointRow, "runId">[] }): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(trainPoints).where(and(eq(trainPoints.runId, id), gt(trainPoints.step, step)));
    const kept = points.filter((p) => p.step <= step).map((p) => ({ ...p, runId: id }));
    // in slices: a long run's curve would pass Postgres's 65,535 bind parameters in one statement
    for (let i = 0; i < kept.length; i += 1000) {
      await tx.insert(trainPoints).values(kept.slice(i, i + 1000)).onConflictDoNothing({ target: [trainPoints.runId, trainPoints.step] });
    }
  });
}

export async function listTrainPoints(db: Db, { id, afterStep = 0 }: { id: number; afterStep?: number }): Promise<TrainPointRow[]> {
  return db
    .select()
    .from(trainPoints)
    .where(and(eq(trainPoints.runId, id), gt(trainPoints.step, afterStep)))
    .orderBy(asc(trainPoints.step));
}

/** Final states. Each applies only to a run that is not finished yet; false when it was. */
export async function finishTrainRun(
  db: Db,
  args: { id: number; status: "done" | "failed" | "cancelled"; error?: string | null; from?: ("queued" | "running")[] },
): Promise<boolean> {
  const rows = await db
    .update(trainRuns)
    .set({ status: args.status, error: args.error ?? null, leaseUntil: null, finishedAt: new Date(), ...(args.status === "done" ? { etaS: 0 } : {}) })
    .where(and(eq(trainRuns.id, args.id), inArray(trainRuns.status, args.from ?? ["queued", "running"])))
    .returning({ id: trainRuns.id });
  return rows.length > 0;
}

export async function addTrainEvalRun(db: Db, { id, evalRunId }: { id: number; evalRunId: number }): Promise<void> {
  await db
    .update(trainRuns)
    .set({ evalRunIds: sql`${trainRuns.evalRunIds} || ${JSON.stringify([evalRunId])}::jsonb` })
    .where(eq(trainRuns.id, id));
}

/** A trained adapter whose dataset has no task card: the catalog row takes the run's template. */
export async function setAdapterTemplate(db: Db, { slug, promptTemplate, inputColumns, targetColumn }: { slug: string; promptTemplate: string; inputColumns: string[]; targetColumn: string }): Promise<void> {
  await db.update(adapters).set({ promptTemplate, inputColumns, targetColumn, updatedAt: new Date() }).where(eq(adapters.slug, slug));
}

/** The finished training run behind each of these catalog slugs (the newest done one per slug). */
export async function trainedRunsFor(db: Db, { slugs }: { slugs: string[] }): Promise<Map<string, TrainRunRow>> {
  const out = new Map<string, TrainRunRow>();
  if (slugs.length === 0) return out;
  const rows = await db
    .select()
    .from(trainRuns)
    .where(and(inArray(trainRuns.adapterSlug, slugs), eq(trainRuns.status, "done")))
    .orderBy(asc(trainRuns.id));
  for (const r of rows) out.set(r.adapterSlug, r);
  return out;
}

/** Queued or running runs on an uploaded dataset (it may not be removed under them). */
export async function openRunsOnDataset(db: Db, { id }: { id: string }): Promise<number[]> {
  const rows = await db
    .select({ id: trainRuns.id })
    .from(trainRuns)
    .where(and(inArray(trainRuns.status, ["queued", "running"]), sql`${trainRuns.dataset}->>'kind' = 'upload'`, sql`${trainRuns.dataset}->>'id' = ${id}`));
  return rows.map((r) => r.id);
}

/** Queued or running runs of an owner, and of everyone. */
export async function openRunCounts(db: Db, { ownerId }: { ownerId: string | null }): Promise<{ mine: number; all: number }> {
  const [row] = await db
    .select({
      mine: sql<number>`count(*) filter (where ${ownerId === null ? sql`false` : sql`${trainRuns.ownerId} = ${ownerId}`})`.mapWith(Number),
      all: sql<number>`count(*)`.mapWith(Number),
    })
    .from(trainRuns)
    .where(inArray(trainRuns.status, ["queued", "running"]));
  return { mine: row?.mine ?? 0, all: row?.all ?? 0 };
}
