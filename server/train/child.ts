/**
 * The web server's training work in its own process (`node --import tsx server/train/child.ts`),
 * so the server's event loop keeps serving:
 * - a training run (server/train/manager.ts): it waits for `{type: "start", config}` over IPC,
 *   runs inference/train's `train()` and posts back `progress` after every optimizer step, then
 *   `done` (the result without its curve), `cancelled` or `error`. `{type: "cancel"}`, or the
 *   parent going away, stops it between steps with a checkpoint saved;
 * - dataset work (server/train/helper.ts): `preview` (rendered rows, the whole file's row
 *   accounting: tokenizing every row takes seconds) and `inspect` (an upload's rows and columns),
 *   answered in order with `result` or `failure`.
 */
import { EngineError } from "../../inference/errors";
import { readCheckpointState } from "../../inference/train/checkpoint";
import type { TrainConfig } from "../../inference/train/config";
import { TrainDataError } from "../../inference/train/dataset";
import { TrainCancelled, train } from "../../inference/train/trainer";
import { columnsOf, datasetRows, previewDataset } from "./datasets";
import type { ChildMessage, HelperRequest, ParentMessage } from "./protocol";

const controller = new AbortController();
const send = (m: ChildMessage) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

async function run(config: TrainConfig): Promise<number> {
  try {
    const saved = readCheckpointState(config.output_dir);
    await send({ type: "starting", checkpointStep: saved?.step ?? null, curve: saved?.curve ?? [] });
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

let training = false;
let work = Promise.resolve();

async function answer(m: HelperRequest): Promise<void> {
  try {
    if (m.type === "preview") await send({ type: "result", id: m.id, value: await previewDataset(m.input, m.limit) });
    else {
      const { rows, invalid } = datasetRows(m.file);
      await send({ type: "result", id: m.id, value: { rows: rows.length, invalid, columns: columnsOf(rows) } });
    }
  } catch (err) {
    await send({ type: "failure", id: m.id, kind: err instanceof TrainDataError ? "data" : "other", message: err instanceof Error ? err.message : String(err) });
  }
}

process.on("message", (m: ParentMessage) => {
  if (m.type === "cancel") controller.abort();
  else if (m.type === "start") {
    training = true;
    void run(m.config).then((code) => process.exit(code));
  } else work = work.then(() => answer(m));
});
// the web server went away (restart, crash): a run saves a checkpoint at the next step and ends
process.on("disconnect", () => (training ? controller.abort() : process.exit(0)));
void send({ type: "ready" });
