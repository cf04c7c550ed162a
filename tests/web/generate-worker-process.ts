/** The real worker as a child process for the generate tests: started on a free port, waited for via /health. */
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";

export interface RunningWorker {
  url: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function spawnRealWorker(modelDir: string, adaptersDir: string): Promise<RunningWorker> {
  const port = await freePort();
  const root = path.resolve(import.meta.dirname, "../..");
  const child = spawn(
    process.execPath,
    [path.join(root, "node_modules/tsx/dist/cli.mjs"), path.join(root, "inference/cli/main.ts"), "serve", "--port", String(port), "--model", modelDir, "--adapters", adaptersDir],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, 5000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + 150_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}):\n${out}`);
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok) return { url, stop };
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`worker not healthy in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
