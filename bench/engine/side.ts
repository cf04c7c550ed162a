/** The benchmark's processes and machine: a side (ours or llama.cpp) in its own process answering one Command at a time (see common.ts), the llama.cpp peer's install, the machine line. */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { log, type SideConfig } from "./common";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const LLAMA_DIR = path.join(ROOT, "bench", "llama");

/** A side (ours or llama.cpp) in its own process, answering one Command at a time. */
export class Side {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = "";
  private waiters: ((line: string | null) => void)[] = [];
  private lines: string[] = [];
  private exited = false;

  constructor(readonly label: string, script: string, cfg: SideConfig, extraArgs: string[] = []) {
    this.child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, script), JSON.stringify(cfg), ...extraArgs], {
      cwd: ROOT, env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    });
    this.child.stderr.on("data", (d) => process.stderr.write(d));
    this.child.stdout.on("data", (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line); else this.lines.push(line);
      }
    });
    this.child.on("close", () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }

  private next(): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.exited) return Promise.resolve(null);
    return new Promise((r) => this.waiters.push(r));
  }

  async ready(): Promise<boolean> {
    for (;;) {
      const l = await this.next();
      if (l === null) { log(`${this.label}: exited before it was ready`); return false; }
      if (l === "READY") return true;
    }
  }

  /** one measurement; null when the side failed it */
  async ask<T>(figure: string, run: number): Promise<T | null> {
    if (this.exited) return null;
    this.child.stdin.write(`${JSON.stringify({ figure, run })}\n`);
    for (;;) {
      const l = await this.next();
      if (l === null) { log(`${this.label}: exited during ${figure}`); return null; }
      if (l.startsWith("RESULT ")) return JSON.parse(l.slice(7)) as T;
      if (l.startsWith("ERROR ")) { log(`${this.label}: ${figure} failed: ${l.slice(6)}`); return null; }
    }
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.on("close", r));
    this.child.stdin.end();
    await done;
  }
}


/** Installs node-llama-cpp 3.21.1 + its linux-x64 CPU binary into bench/llama (no scripts, no downloads). */
export function ensureLlamaInstalled(): boolean {
  const ok = () => fs.existsSync(path.join(LLAMA_DIR, "node_modules", "node-llama-cpp", "dist", "index.js"))
    && fs.existsSync(path.join(LLAMA_DIR, "node_modules", "@node-llama-cpp", "linux-x64", "bins"));
  if (ok()) return true;
  if (process.platform !== "linux" || process.arch !== "x64") {
    log(`llama.cpp peer: only the linux-x64 CPU binary is pinned; skipping on ${process.platform}-${process.arch}`);
    return false;
  }
  log("installing the llama.cpp peer (node-llama-cpp 3.21.1, CPU binary) into bench/llama/node_modules ...");
  try {
    execFileSync("npm", ["ci", "--prefix", LLAMA_DIR, "--no-audit", "--no-fund", "--omit=optional", "--ignore-scripts"], {
      stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    });
  } catch (e) {
    log(`llama.cpp peer install failed (${(e as Error).message}); llama.cpp columns will be empty`);
  }
  return ok();
}

/** CPU pressure (PSI "some avg60"): the share of time runnable tasks waited for a CPU; null where unavailable */
export function cpuPressure(): number | null {
  try {
    return Number(/avg60=([\d.]+)/.exec(fs.readFileSync("/proc/pressure/cpu", "utf8"))?.[1] ?? NaN);
  } catch {
    return null;
  }
}

export function machineLine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "unknown CPU";
  const flags = /flags\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1].split(" ") ?? [];
  const isa = ["avx2", "avx512f", "avx512_bf16"].filter((f) => flags.includes(f)).join("/");
  return `${cpu} (${isa}), ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ` +
    `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, load average at start ${os.loadavg()[0].toFixed(2)}`;
}

