/**
 * What the /train page sees of a run (the `train` router's output types): the stored row without
 * its owner id (who started it stays on the server; the caller learns `mine` and `canCancel`), its
 * place in the queue, and its curve points.
 */
import type { TrainDatasetRef, TrainRowAccounting, TrainRunConfig, TrainRunStatus } from "../../db/schema/train";
import type { TrainPointRow, TrainRunRow } from "../db-queries/train";

export interface TrainRunView {
  id: number;
  status: TrainRunStatus;
  /** started by the caller */
  mine: boolean;
  /** may the caller cancel it (its owner or the admin, while queued or running) */
  canCancel: boolean;
  /** 1-based place among the queued runs (1 = next); null unless queued */
  position: number | null;
  config: TrainRunConfig;
  dataset: TrainDatasetRef;
  datasetName: string;
  /** the demo task whose test split evaluates the adapter; null = no eval */
  taskCard: string | null;
  rowAccounting: TrainRowAccounting;
  baseModelId: string;
  /** the catalog slug the adapter gets (exists once status is done) */
  adapterSlug: string;
  step: number;
  totalSteps: number;
  epoch: number;
  /** the last step's training loss */
  trainLoss: number | null;
  /** the last validation loss (at an epoch's end; null without a validation split) */
  valLoss: number | null;
  tokensPerS: number | null;
  /** seconds left, estimated from the steps so far; null before the first step */
  etaS: number | null;
  /** training seconds so far (over restarts) */
  seconds: number;
  error: string | null;
  /** eval runs of the adapter and the base model on the task's test split (eval.progress / eval.run) */
  evalRunIds: number[];
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface TrainPointView {
  step: number;
  epoch: number;
  trainLoss: number;
  valLoss: number | null;
  lr: number;
  tokensPerS: number | null;
}

export interface Viewer {
  ownerId: string | null;
  admin?: boolean;
}

export function runView(row: TrainRunRow, who: Viewer, queue: number[]): TrainRunView {
  const { ownerId, leaseUntil: _lease, checkpointDir: _dir, ...rest } = row;
  void _lease;
  void _dir;
  const mine = ownerId !== null && ownerId === who.ownerId;
  const open = row.status === "queued" || row.status === "running";
  const at = queue.indexOf(row.id);
  return { ...rest, mine, canCancel: open && (mine || who.admin === true), position: row.status === "queued" && at >= 0 ? at + 1 : null };
}

export function pointView(p: TrainPointRow): TrainPointView {
  return { step: p.step, epoch: p.epoch, trainLoss: p.trainLoss, valLoss: p.valLoss, lr: p.lr, tokensPerS: p.tokensPerS };
}
