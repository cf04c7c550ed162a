/**
 * The built-in worker as a child process of the eval harness: started on a free port with the
 * bundled model and adapters, ready once GET /health answers 200, stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface WorkerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function waitForHealth(url: string, opts: { timeoutMs: number; child?: ChildProcess; log?: () => string }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (opts.child && opts.child.exitCode !== null) throw new Error(`the worker exited with code ${opts.child.exitCode} before it was ready\n${opts.log?.() ?? ""}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the worker at ${url} was not ready within ${opts.timeoutMs / 1000}s\n${opts.log?.() ?? ""}`);
}

/** Start `inference/cli/main.ts serve` and wait until it serves. */
export async function startWorker(opts: {
  root?: string;
  modelDir: string;
  adaptersDir: string;
  modelId?: string;
  extraArgs?: string[];
  /** extra environment, e.g. DATA_DIR (the worker also serves DATA_DIR/adapters, where uploads go) */
  env?: Record<string, string>;
  timeoutMs?: number;
}): Promise<WorkerProcess> {
  const root = opts.root ?? process.cwd();
  const port = await freePort();
  const args = [
    path.join(root, "node_modules/tsx/dist/cli.mjs"),
    path.join(root, "inference/cli/main.ts"),
    "serve",
    "--port", String(port),
    "--host", "127.0.0.1",
    "--model", opts.modelDir,
    "--adapters", opts.adaptersDir,
    ...(opts.modelId ? ["--model-id", opts.modelId] : []),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...opts.env }, stdio: ["ignore", "ignore", "pipe"] });
  let tail = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => (clearTimeout(kill), resolve()));
      child.kill("SIGTERM");
    });
  try {
    await waitForHealth(url, { timeoutMs: opts.timeoutMs ?? 300_000, child, log: () => tail });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, child, stop };
}
