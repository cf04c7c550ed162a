/** Timing shared by the kernel micro-benchmarks (bench-kernels.ts, bench-formats.ts). */

/** A clock in seconds: wall time, or (cpu) user + system CPU time of this process (robust on a shared machine with one kernel thread). */
export function benchClock(cpu: boolean): () => number {
  if (cpu) {
    return () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
  }
  return () => Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Seconds per call of fn: [median, best] over `reps` batches of calls that each take >= ~50 ms.
 * The machines are shared: the best batch is the kernel's capability, the median what a noisy
 * neighbour leaves of it.
 */
export function time2(fn: () => void, now: () => number, reps: number): [number, number] {
  fn();
  let iters = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < iters; i++) fn();
    if (now() - t0 > 0.05) break;
    iters *= 2;
  }
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < iters; i++) fn();
    samples.push((now() - t0) / iters);
  }
  samples.sort((a, b) => a - b);
  return [samples[samples.length >> 1], samples[0]];
}
