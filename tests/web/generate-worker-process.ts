/** The real worker as a child process for the generate tests: the eval harness's launcher (free port, wait on /health). */
import path from "node:path";
import { startWorker } from "../../server/eval/worker-process";

export interface RunningWorker {
  url: string;
  stop(): Promise<void>;
}

export async function spawnRealWorker(modelDir: string, adaptersDir: string): Promise<RunningWorker> {
  const root = path.resolve(import.meta.dirname, "../..");
  const worker = await startWorker({ root, modelDir, adaptersDir, timeoutMs: 150_000 });
  return { url: worker.url, stop: worker.stop };
}
