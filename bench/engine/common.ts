/** Shared pieces of the engine benchmark: settings, prompts, statistics, the side-process protocol. */
import readline from "node:readline";

/** What a side process (ours or llama.cpp) is started with, as JSON in argv[2]. */
export interface SideConfig {
  modelDir: string;
  /** GGUF model (llama.cpp side) */
  ggufModel?: string;
  /** adapter name -> directory (ours) or .gguf file (llama.cpp) */
  adapters: Record<string, string>;
  threads: number;
  quick: boolean;
  vocab: number;
  /** ours: the base weights' format and where q8/q4 conversions are cached (`--size` runs) */
  dtype?: string;
  weightCacheDir?: string;
}

/** One measurement asked of a side: a figure and the run index (which seeds its prompts). */
export interface Command {
  figure: string;
  run: number;
}

export const SETTINGS = {
  p1: { prompt: 128, newTokens: 128 },
  /** P2/P3/P4: many streams with short prompts, so decode dominates */
  streams: { prompt: 16, newTokens: 32, quickNewTokens: 16 },
  p4: { streams: 32, newTokens: 32, adapterCounts: [1, 2, 4, 8, 16, 32] },
  p5: { prompt: 16, backgroundStreams: 4, backgroundNewTokens: 64 },
  p6: { prompt: 512 },
  p7: { registered: 100, hot: 16, newTokens: 8 },
  check: { newTokens: 24, prompts: 3, models: ["base", "qv-r8-000", "all-r16"] },
  /** `--size` (7B-shaped) figures: S1 single stream, S8 8 streams on 8 distinct adapters, PF prefill */
  sized: { prompt: 16, newTokens: 32, streams: 8, prefill: 512 },
};

export function streamNewTokens(quick: boolean): number {
  return quick ? SETTINGS.streams.quickNewTokens : SETTINGS.streams.newTokens;
}

/** Deterministic prompt: BOS then pseudo-random ordinary token ids (past the 3 specials and 256 byte tokens). */
export function promptIds(len: number, seed: number, vocab: number): number[] {
  const ids = [1];
  let s = (seed * 2654435761) >>> 0 || 1;
  while (ids.length < len) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    ids.push(259 + (s % (vocab - 259)));
  }
  return ids;
}

export function checkPrompt(p: number, vocab: number): number[] {
  return promptIds(8 + 12 * p, 400 + p, vocab);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Timeline of one generation stream: when it started, each token's arrival time. */
export interface StreamTiming {
  start: number;
  tokenTimes: number[];
  ids: number[];
}

/** single-stream decode tokens/s: tokens after the first ÷ time after the first */
export function decodeRate(t: StreamTiming): number {
  const n = t.tokenTimes.length;
  return n < 2 ? NaN : (n - 1) / ((t.tokenTimes[n - 1] - t.tokenTimes[0]) / 1000);
}

/** aggregate tokens/s of concurrent streams: all generated tokens ÷ wall time from the first start to the last token */
export function aggregateRate(ts: StreamTiming[]): number {
  const start = Math.min(...ts.map((t) => t.start));
  const end = Math.max(...ts.map((t) => t.tokenTimes[t.tokenTimes.length - 1] ?? t.start));
  const n = ts.reduce((a, t) => a + t.tokenTimes.length, 0);
  return n / ((end - start) / 1000);
}

/** prompt tokens/s from a stream's time to first token */
export function prefillRate(t: StreamTiming, promptLen: number): number {
  return promptLen / ((t.tokenTimes[0] - t.start) / 1000);
}

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Side-process loop: one JSON Command per stdin line, answered by one `RESULT <json>` line on
 * stdout (or `ERROR <message>`). Ends on stdin close.
 */
export async function serveCommands(handle: (c: Command) => Promise<unknown>, close: () => Promise<void>): Promise<void> {
  process.stdout.write("READY\n");
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      const result = await handle(JSON.parse(line) as Command);
      process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    } catch (e) {
      log(String((e as Error)?.stack ?? e));
      process.stdout.write(`ERROR ${JSON.stringify(String((e as Error)?.message ?? e))}\n`);
    }
  }
  await close();
}

/** inter-token gaps (ms) of streams, only those whose both tokens fall inside [from, to] */
export function interTokenGaps(ts: StreamTiming[], from = -Infinity, to = Infinity): number[] {
  const gaps: number[] = [];
  for (const t of ts) {
    for (let i = 1; i < t.tokenTimes.length; i++) {
      if (t.tokenTimes[i - 1] >= from && t.tokenTimes[i] <= to) gaps.push(t.tokenTimes[i] - t.tokenTimes[i - 1]);
    }
  }
  return gaps;
}
