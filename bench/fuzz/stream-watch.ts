/**
 * A concurrent stream as a stall detector: opens `/generate_stream` on a worker with a long
 * generation (ignore_eos) and records the gap between consecutive SSE events, so a probe can say
 * how long the worker's event loop stopped while something else ran. Used by the probes and the
 * fuzzer (`npm run fuzz`).
 */
export interface StreamWatch {
  /** largest gap between two events (ms) since the last `resetMax()` */
  maxGapMs(): number;
  resetMax(): void;
  /** gaps between two events longer than `stallMs` (default 500) */
  stalls(): number;
  events(): number;
  /** resolves when the stream ended (or was stopped) */
  done: Promise<void>;
  stop(): void;
}

/** `onStall(gapMs)` is called at the end of each gap over `stallMs` (for its context: machine-watch.ts). */
export function watchStream(url: string, body: Record<string, unknown>, stallMs = 500, onStall?: (gapMs: number) => void): StreamWatch {
  const ac = new AbortController();
  let maxGap = 0;
  let stalls = 0;
  let count = 0;
  let last = 0;
  const done = (async () => {
    try {
      const res = await fetch(`${url}/generate_stream`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: ac.signal });
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
      last = performance.now();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        if (now - last > stallMs) {
          stalls++;
          onStall?.(now - last);
        }
        last = now;
        count += Buffer.from(chunk).toString("utf8").split("data:").length - 1;
      }
    } catch (e) {
      if (!ac.signal.aborted) throw e;
    }
  })();
  return {
    maxGapMs: () => Math.max(maxGap, last ? performance.now() - last : 0),
    resetMax: () => {
      maxGap = 0;
      last = performance.now();
    },
    events: () => count,
    stalls: () => stalls,
    done,
    stop: () => ac.abort(),
  };
}
