/** Messages between the web server (server/train/manager.ts) and a training process (child.ts). */
import type { TrainConfig } from "../../inference/train/config";
import type { TrainProgress, TrainResult } from "../../inference/train/trainer";

export type ParentMessage = { type: "start"; config: TrainConfig } | { type: "cancel" };

export type ChildMessage =
  | { type: "ready" }
  /** about to train: the step of the checkpoint it resumes from (null: from the start) */
  | { type: "starting"; checkpointStep: number | null }
  | { type: "progress"; progress: TrainProgress }
  | { type: "log"; line: string }
  | { type: "done"; result: Omit<TrainResult, "curve"> }
  | { type: "cancelled"; step: number }
  | { type: "error"; message: string; field: string | null };
