/** Shared pieces of the engine benchmark: settings, prompts, statistics, timing of one stream. */

/** What one side (ours or llama.cpp) is asked to measure, passed to its child process as JSON. */
export interface SideConfig {
  modelDir: string;
  /** GGUF files (llama.cpp side) */
  ggufModel?: string;
  /** adapter name -> directory (ours) or .gguf file (llama.cpp) */
  adapters: Record<string, string>;
  figures: string[];
  runs: number;
  threads: number;
  quick: boolean;
  vocab: number;
}

export const SETTINGS = {
  p1: { prompt: 128, newTokens: 128 },
  /** P2/P3/P4: many streams with short prompts, so decode dominates */
  streams: { prompt: 16, newTokens: 64, quickNewTokens: 32 },
  p5: { prompt: 16, backgroundStreams: 4, backgroundNewTokens: 96 },
  p6: { prompt: 512 },
  p7: { registered: 100, hot: 16, newTokens: 8 },
};

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

/** Child-process protocol: the side prints exactly one line `RESULT <json>` on stdout. */
export function emitResult(result: unknown): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
