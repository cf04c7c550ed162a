/**
 * One training run in its own process (`node --import tsx server/train/child.ts`), started by
 * server/train/manager.ts so the web server's event loop keeps serving: it waits for
 * `{type: "start", config}` over IPC, runs inference/train's `train()` and posts back `progress`
 * after every optimizer step, then `done` (the result without its curve), `cancelled` or `error`.
 * `{type: "cancel"}`, or the parent going away, stops it between steps with a checkpoint saved.
 */
import { EngineError } from "../../inference/errors";
import { readCheckpointState } from "../../inference/train/checkpoint";
import type { TrainConfig } from "../../inference/train/config";
import { TrainCancelled, train } from "../../inference/train/trainer";
import type { ChildMessage, ParentMessage } from "./protocol";

const controller = new AbortController();
const send = (m: ChildMessage) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

async function run(config: TrainConfig): Promise<number> {
  try {
    await send({ type: "starting", checkpointStep: readCheckpointState(config.output_dir)?.step ?? null });
    const result = await train(config, {
      signal: controller.signal,
      onProgress: (p) => void send({ type: "progress", progress: p }),
      onLog: (line) => void send({ type: "log", line }),
    });
    const { curve: _curve, ...summary } = result;
    void _curve;
    await send({ type: "done", result: summary });
    return 0;
  } catch (err) {
    if (err instanceof TrainCancelled) {
      await send({ type: "cancelled", step: err.step });
      return 0;
    }
    const field = err instanceof EngineError ? err.field : undefined;
    await send({ type: "error", message: err instanceof Error ? err.message : String(err), field: field ?? null });
    return 1;
  }
}

process.on("message", (m: ParentMessage) => {
  if (m.type === "cancel") controller.abort();
  else if (m.type === "start") void run(m.config).then((code) => process.exit(code));
});
// the web server went away (restart, crash): save a checkpoint at the next step and end
process.on("disconnect", () => controller.abort());
void send({ type: "ready" });
