/**
 * Messages between the web server and its training processes (server/train/child.ts): a training
 * run (manager.ts: start, cancel → progress, done, ...) or dataset work (helper.ts: a preview with
 * the row accounting, or an upload's inspection → result or failure), both off the server's loop.
 */
import type { CurvePoint } from "../../inference/train/checkpoint";
import type { TrainConfig } from "../../inference/train/config";
import type { TrainProgress, TrainResult } from "../../inference/train/trainer";
import type { AccountingInput, DatasetPreview } from "./datasets";

export interface DatasetInspection {
  rows: number;
  invalid: number;
  columns: string[];
}

export type HelperRequest = { type: "preview"; id: number; input: AccountingInput; limit: number } | { type: "inspect"; id: number; file: string };

export type ParentMessage = { type: "start"; config: TrainConfig } | { type: "cancel" } | HelperRequest;

export type ChildMessage =
  | { type: "ready" }
  /** about to train: the step of the checkpoint it resumes from (null: from the start) and that checkpoint's loss curve */
  | { type: "starting"; checkpointStep: number | null; curve: CurvePoint[] }
  | { type: "progress"; progress: TrainProgress }
  | { type: "log"; line: string }
  | { type: "done"; result: Omit<TrainResult, "curve"> }
  | { type: "cancelled"; step: number }
  | { type: "error"; message: string; field: string | null }
  | { type: "result"; id: number; value: DatasetPreview | DatasetInspection }
  /** `data`: the dataset cannot be used (TrainDataError); `other`: anything else */
  | { type: "failure"; id: number; kind: "data" | "other"; message: string };
