/**
 * A generation watched through the web app, as a stall detector for the tRPC fuzzer: starts a long
 * run with `generate.start` (its own owner, its own client address) and reads `generate.stream`
 * (SSE), recording the gap between consecutive token events from the first token on. A gap over
 * `stallMs` (500) means the web server or the worker stopped streaming while the fuzzer's
 * requests ran. Started again whenever it ends; a 429 waits for its Retry-After.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";

export interface WebStreamWatch {
  /** token events seen */
  events(): number;
  /** runs that streamed at least one token */
  runs(): number;
  maxGapMs(): number;
  stalls(): number;
  /** why starting or streaming failed (first few), for the report */
  errors(): string[];
  stop(): Promise<void>;
}

/** `onStall(gapMs)` is called at the end of each gap over `stallMs` (for its context: machine-watch.ts). */
export function watchWebStream(opts: { url: string; cookie: string; address?: string; maxNewTokens?: number; stallMs?: number; onStall?: (gapMs: number) => void }): WebStreamWatch {
  const stallMs = opts.stallMs ?? 500;
  const headers: Record<string, string> = { cookie: opts.cookie, "content-type": "application/json" };
  if (opts.address) headers["x-forwarded-for"] = opts.address;
  const ac = new AbortController();
  let events = 0;
  let runs = 0;
  let maxGap = 0;
  let stalls = 0;
  const errors: string[] = [];
  const note = (e: string) => {
    if (errors.length < 5) errors.push(e.slice(0, 300));
  };
  const sleep = (ms: number) => new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    ac.signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
  });

  async function once(): Promise<void> {
    const body = { json: { mode: "raw", adapters: [null], prompt: "Once upon a time", params: { max_new_tokens: opts.maxNewTokens ?? 120, temperature: 0, ignore_eos: true } } };
    const res = await fetch(`${opts.url}/api/trpc/generate.start`, { method: "POST", headers, body: JSON.stringify(body), signal: ac.signal });
    if (res.status === 429) {
      await res.arrayBuffer();
      await sleep(Math.min(10, Number(res.headers.get("retry-after") ?? 1)) * 1000);
      return;
    }
    if (!res.ok) {
      note(`start ${res.status}: ${await res.text()}`);
      await sleep(1000);
      return;
    }
    const { runId } = ((await res.json()) as { result: { data: { json: { runId: string } } } }).result.data.json;
    const input = encodeURIComponent(JSON.stringify({ json: { runId } }));
    const sse = await fetch(`${opts.url}/api/trpc/generate.stream?input=${input}`, { headers: { ...headers, accept: "text/event-stream" }, signal: ac.signal });
    if (!sse.ok || !sse.body) {
      note(`stream ${sse.status}: ${await sse.text()}`);
      return;
    }
    const reader = sse.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    let last = 0;
    let tokens = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || value.event === "return") break;
        if (value.event === "serialized-error") {
          note(`stream error: ${value.data}`);
          break;
        }
        if (!value.id || !value.data) continue; // pings, connected
        const chunk = (JSON.parse(value.data) as { json: { kind: string } }).json;
        if (chunk.kind === "token") {
          const now = performance.now();
          if (last) {
            maxGap = Math.max(maxGap, now - last);
            if (now - last > stallMs) {
              stalls++;
              opts.onStall?.(now - last);
            }
          }
          last = now;
          tokens++;
          events++;
        } else if (chunk.kind === "end") break;
      }
    } finally {
      reader.releaseLock();
      await sse.body.cancel().catch(() => {});
    }
    if (tokens > 0) runs++;
  }

  const loop = (async () => {
    while (!ac.signal.aborted) {
      try {
        await once();
      } catch (e) {
        if (!ac.signal.aborted) {
          note(`watch: ${(e as Error).message}`);
          await sleep(500);
        }
      }
    }
  })();

  return {
    events: () => events,
    runs: () => runs,
    maxGapMs: () => maxGap,
    stalls: () => stalls,
    errors: () => errors,
    stop: async () => {
      ac.abort();
      await loop;
    },
  };
}
