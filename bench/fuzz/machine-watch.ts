/**
 * What the machine was doing during a stall, so a stall report can tell a machine that paused
 * everything from a server that stopped streaming on its own. Sampled every 100 ms in the fuzzer's
 * process:
 * - its own event-loop lag (the reading side: when it could not run, nobody read the stream);
 * - the CPU pressure (Linux PSI, /proc/pressure/cpu "some": the share of time at least one
 *   runnable task waited for a CPU), else the 1-minute load average against the core count;
 * - the CPU time each watched server (worker, web; each with its child processes) used;
 * - how long each server took to answer a cheap request (the worker's /health, the web's
 *   /api/eval/ingest probe), asked every 250 ms: a server whose own event loop was blocked
 *   answers late; one that answers at once was free, and its stream stopped for another reason.
 * A stall is then read as: "fuzzer paused" (the fuzzer's own loop lagged at least half the gap:
 * the machine, or the fuzzer's own work, kept the reader from reading), "machine busy" (tasks
 * waited for a CPU at least half the gap), else "server" (the machine had CPU to spare and the
 * reader was reading, so the server itself stopped: the finding to chase).
 */
import fs from "node:fs";
import os from "node:os";

export type StallCause = "fuzzer paused" | "machine busy" | "server";

export interface StallContext {
  /** seconds since the watch started, at the stall's end */
  atS: number;
  gapMs: number;
  /** 1-minute load average at the stall */
  load1: number;
  /** share of the gap in which some task waited for a CPU (PSI); null where the kernel has no PSI */
  cpuPressurePct: number | null;
  /** the fuzzer's own event-loop lag during the gap (its timers' lateness) */
  ownLagMs: number;
  /** CPU time each watched server used during the gap */
  cpuMs: Record<string, number>;
  /** the slowest answer to each server's probe that overlapped the gap (still unanswered: so far) */
  answerMs: Record<string, number>;
  cause: StallCause;
}

interface Sample {
  t: number;
  lagMs: number;
  load1: number;
  /** PSI cpu "some" total, µs */
  psiUs: number | null;
  /** CPU ticks per watched server (its process tree) */
  ticks: Record<string, number>;
}

const INTERVAL_MS = 100;
const KEEP_MS = 120_000;
/** USER_HZ: the unit of /proc/<pid>/stat's utime and stime (100 on every Linux build) */
const TICK_MS = 10;

function readPsiUs(): number | null {
  try {
    const m = /^some .*total=(\d+)/m.exec(fs.readFileSync("/proc/pressure/cpu", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** pid → [ppid, utime + stime] for every process (fields 4, 14, 15 of /proc/<pid>/stat). */
function readStat(pid: number): [number, number] | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return [Number(f[1]), Number(f[11]) + Number(f[12])];
  } catch {
    return null;
  }
}

/** The pids of `root` and its descendants. */
function processTree(root: number): number[] {
  let pids: number[];
  try {
    pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [root];
  }
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const st = readStat(pid);
    if (st) children.set(st[0], [...(children.get(st[0]) ?? []), pid]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** The reading of a stall (see the top of this file); without PSI, a load of a task per core or more is busy. */
export function stallCause(m: { gapMs: number; ownLagMs: number; cpuPressurePct: number | null; load1: number; cores: number }): StallCause {
  if (m.ownLagMs >= m.gapMs / 2) return "fuzzer paused";
  const busy = m.cpuPressurePct !== null ? m.cpuPressurePct >= 50 : m.load1 >= m.cores;
  return busy ? "machine busy" : "server";
}

export class MachineWatch {
  private readonly samples: Sample[] = [];
  private readonly servers = new Map<string, { root: number; tree: number[] }>();
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly treeTimer: NodeJS.Timeout;
  private expected = performance.now() + INTERVAL_MS;
  /** each probe request: when it was sent and answered (null: not yet) */
  private readonly probes: { name: string; start: number; end: number | null }[] = [];
  private readonly probeTimer: NodeJS.Timeout;

  /** `servers`: name → pid whose CPU time is counted; `probes`: name → a cheap URL of that server to time */
  constructor(servers: Record<string, number | undefined> = {}, probes: Record<string, string> = {}) {
    for (const [name, pid] of Object.entries(servers)) if (pid) this.watch(name, pid);
    this.probeTimer = setInterval(() => {
      const t = performance.now();
      while (this.probes.length && this.probes[0]!.end !== null && this.probes[0]!.end < t - KEEP_MS) this.probes.shift();
      for (const [name, url] of Object.entries(probes)) {
        if (this.probes.some((p) => p.name === name && p.end === null)) continue; // one at a time
        const p = { name, start: performance.now(), end: null as number | null };
        this.probes.push(p);
        void fetch(url, { signal: AbortSignal.timeout(30_000) })
          .then((r) => r.arrayBuffer())
          .catch(() => {})
          .finally(() => (p.end = performance.now()));
      }
    }, 250);
    this.probeTimer.unref();
    this.sample(0);
    this.timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - this.expected);
      this.expected = now + INTERVAL_MS;
      this.sample(lag);
    }, INTERVAL_MS);
    // a server's children (the worker's, the web's) may come and go
    this.treeTimer = setInterval(() => {
      for (const s of this.servers.values()) s.tree = processTree(s.root);
    }, 2_000);
    this.timer.unref();
    this.treeTimer.unref();
  }

  /** Also count the CPU time of `pid` (and its children) as `name`'s. */
  watch(name: string, pid: number): void {
    this.servers.set(name, { root: pid, tree: processTree(pid) });
  }

  private sample(lagMs: number) {
    const ticks: Record<string, number> = {};
    for (const [name, s] of this.servers) ticks[name] = s.tree.reduce((n, pid) => n + (readStat(pid)?.[1] ?? 0), 0);
    const t = performance.now();
    this.samples.push({ t, lagMs, load1: os.loadavg()[0]!, psiUs: readPsiUs(), ticks });
    while (this.samples.length > 2 && this.samples[0]!.t < t - KEEP_MS) this.samples.shift();
  }

  /** The context of a stall that just ended: `gapMs` without an event, up to now. */
  stall(gapMs: number): StallContext {
    const now = performance.now();
    this.sample(Math.max(0, now - this.expected)); // the latest state, also when the timer is late
    const start = now - gapMs;
    const before = [...this.samples].reverse().find((s) => s.t <= start) ?? this.samples[0]!;
    const after = this.samples.at(-1)!;
    const within = this.samples.filter((s) => s.t > start);
    const span = Math.max(1, after.t - before.t);
    const ownLagMs = Math.max(0, ...within.map((s) => s.lagMs));
    const cpuPressurePct = before.psiUs !== null && after.psiUs !== null ? Math.min(100, ((after.psiUs - before.psiUs) / 1000 / span) * 100) : null;
    const load1 = Math.max(...[before, ...within].map((s) => s.load1));
    const cpuMs: Record<string, number> = {};
    for (const name of this.servers.keys()) cpuMs[name] = Math.max(0, ((after.ticks[name] ?? 0) - (before.ticks[name] ?? 0)) * TICK_MS);
    const answerMs: Record<string, number> = {};
    for (const p of this.probes) {
      const end = p.end ?? now;
      if (end < start || p.start > now) continue; // outside the gap
      answerMs[p.name] = Math.max(answerMs[p.name] ?? 0, end - p.start);
    }
    const cause = stallCause({ gapMs, ownLagMs, cpuPressurePct, load1, cores: os.cpus().length });
    return { atS: (now - this.started) / 1000, gapMs, load1, cpuPressurePct, ownLagMs, cpuMs, answerMs, cause };
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.treeTimer);
    clearInterval(this.probeTimer);
  }
}

/** The stalls' causes in one line, then one line per stall (the first `max`). */
export function formatStalls(stalls: StallContext[], max = 12): string[] {
  if (!stalls.length) return [];
  const by = (c: StallCause) => stalls.filter((s) => s.cause === c).length;
  const lines = [`Stalls by cause: fuzzer paused ${by("fuzzer paused")}, machine busy ${by("machine busy")}, server ${by("server")} (a "server" stall is one the machine had CPU to spare for)`];
  for (const s of stalls.slice(0, max)) {
    const cpu = Object.entries(s.cpuMs).map(([name, ms]) => `${name} CPU ${Math.round(ms)} ms`);
    cpu.push(...Object.entries(s.answerMs).map(([name, ms]) => `${name} answered its probe in ≤ ${Math.round(ms)} ms`));
    const pressure = s.cpuPressurePct === null ? "no PSI" : `CPU pressure ${Math.round(s.cpuPressurePct)}% of it`;
    lines.push(`- stall at ${s.atS.toFixed(1)} s: ${Math.round(s.gapMs)} ms; load ${s.load1.toFixed(1)}; ${pressure}; fuzzer's own loop lag ${Math.round(s.ownLagMs)} ms${cpu.length ? `; ${cpu.join(", ")}` : ""} → ${s.cause}`);
  }
  if (stalls.length > max) lines.push(`- … ${stalls.length - max} more`);
  return lines;
}
