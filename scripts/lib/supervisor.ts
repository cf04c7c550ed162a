/**
 * Keeps a child process running: restarts it with exponential backoff when it exits on its own,
 * stops it (SIGTERM, then SIGKILL after a grace period) when asked. Each child runs in its own
 * process group, and the whole group is signalled, so nothing it started (a wrapper's child)
 * survives it and keeps its port.
 */
import { spawn, type ChildProcess } from "node:child_process";

export interface SupervisedOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** first restart delay; doubles up to maxBackoffMs, reset after a run that lasted minUptimeMs */
  backoffMs?: number;
  maxBackoffMs?: number;
  minUptimeMs?: number;
  log?: (line: string) => void;
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

export class Supervised {
  private child: ChildProcess | null = null;
  private stopping = false;
  private delay: number;
  private timer: NodeJS.Timeout | null = null;
  restarts = 0;

  constructor(private readonly opts: SupervisedOptions) {
    this.delay = opts.backoffMs ?? 1000;
  }

  private log(line: string) {
    (this.opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(`[${this.opts.name}] ${line}`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopping) return;
    const startedAt = Date.now();
    const child = spawn(this.opts.command, this.opts.args, {
      cwd: this.opts.cwd,
      env: this.opts.env,
      stdio: ["ignore", "inherit", "inherit"],
      detached: true, // own process group (Ctrl-C reaches it through stop())
    });
    this.child = child;
    child.on("error", (err) => this.log(`could not start: ${err.message}`));
    child.on("exit", (code, signal) => {
      this.child = null;
      signalGroup(child.pid, "SIGKILL"); // leftovers of the group (e.g. grandchildren) would hold its port
      if (this.stopping) return;
      const uptime = Date.now() - startedAt;
      if (uptime >= (this.opts.minUptimeMs ?? 30_000)) this.delay = this.opts.backoffMs ?? 1000;
      this.log(`exited (${signal ?? `code ${code}`}) after ${Math.round(uptime / 1000)}s; restarting in ${Math.round(this.delay / 1000)}s`);
      this.timer = setTimeout(() => {
        this.restarts++;
        this.start();
      }, this.delay);
      this.delay = Math.min(this.delay * 2, this.opts.maxBackoffMs ?? 30_000);
    });
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => signalGroup(child.pid, "SIGKILL"), graceMs);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      signalGroup(child.pid, "SIGTERM");
    });
  }
}
