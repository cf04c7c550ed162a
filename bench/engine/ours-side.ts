/**
 * Our engine's side of the benchmark (inference/engine, native backend), in its own process (no
 * llama.cpp in memory). Started with a SideConfig (argv[2]); then answers one Command per stdin
 * line (see common.ts) so run.ts can interleave its runs with llama.cpp's. With `--memory` it
 * only answers P7, in a fresh process.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Engine, type EngineCreateOptions } from "../../inference/engine/engine";
import type { GenerateRequest } from "../../inference/engine/types";
import { nativeBackend } from "../../inference/kernels/index";
import {
  SETTINGS, aggregateRate, checkPrompt, decodeRate, interTokenGaps, log, prefillRate, promptIds, serveCommands,
  streamNewTokens, type Command, type SideConfig, type StreamTiming,
} from "./common";

/** Runs one request to the end, timing every token. */
export async function runStream(engine: Engine, req: GenerateRequest): Promise<StreamTiming> {
  const t: StreamTiming = { start: performance.now(), tokenTimes: [], ids: [] };
  for await (const ev of engine.generate({ ignoreEos: true, ...req })) {
    if (ev.type === "token") {
      t.tokenTimes.push(performance.now());
      t.ids.push(ev.id);
    } else if (ev.type === "error") {
      throw new Error(`generate failed: ${ev.code}: ${ev.message}`);
    }
  }
  return t;
}

function engineOptions(cfg: SideConfig, extra: Partial<EngineCreateOptions> = {}): EngineCreateOptions {
  return {
    modelDir: cfg.modelDir, backend: "native", log: null, blockSize: 16, maxRunning: 32, maxBatchTokens: 512,
    adapterSlots: 40, kvCacheBytes: 512 * 2 ** 20, maxContext: 1024,
    ...(cfg.dtype ? { dtype: cfg.dtype as EngineCreateOptions["dtype"], weightCacheDir: cfg.weightCacheDir } : {}), ...extra,
  };
}

interface Ours {
  engine: Engine;
  cfg: SideConfig;
  qv: string[];
  /** registers (once) and preloads adapters, so timed runs see them resident */
  use(names: string[]): Promise<void>;
  /** n concurrent streams, stream i on adapters[i % adapters.length] (null = base) */
  streams(n: number, adapters: (string | null)[], seed: number, maxNew?: number): Promise<StreamTiming[]>;
}

async function start(cfg: SideConfig, extra: Partial<EngineCreateOptions> = {}): Promise<Ours> {
  const engine = await Engine.create(engineOptions(cfg, extra));
  const registered = new Set<string>();
  const S = SETTINGS.streams;
  const ours: Ours = {
    engine, cfg,
    qv: Object.keys(cfg.adapters).filter((n) => n.startsWith("qv-r8-")).sort(),
    async use(names) {
      for (const n of names) {
        if (!registered.has(n)) { await engine.registerAdapter(n, cfg.adapters[n], "local"); registered.add(n); }
        await engine.preloadAdapter(n);
      }
    },
    streams: (n, adapters, seed, maxNew = streamNewTokens(cfg.quick)) =>
      Promise.all(Array.from({ length: n }, (_, i) => runStream(engine, {
        promptIds: promptIds(S.prompt, seed + i, cfg.vocab), adapterId: adapters[i % adapters.length], maxNewTokens: maxNew,
      }))),
  };
  await ours.streams(2, [null], 1, 4); // warm-up: first passes (allocations, page faults of the weights)
  return ours;
}

async function handle(o: Ours, { figure, run }: Command): Promise<unknown> {
  const { engine, cfg } = o;
  switch (figure) {
    case "P1":
      return decodeRate(await runStream(engine, { promptIds: promptIds(SETTINGS.p1.prompt, 100 + run, cfg.vocab), maxNewTokens: SETTINGS.p1.newTokens }));
    case "P2": {
      // base, adapters, adapters, base: the ratio compares neighbours in time, and a drift of the
      // machine's load during the run weighs on both sides equally
      const eight = o.qv.slice(0, 8);
      await o.use(eight);
      const b1 = aggregateRate(await o.streams(8, [null], 200 + 8 * run));
      const h1 = aggregateRate(await o.streams(8, eight, 200 + 8 * run));
      const h2 = aggregateRate(await o.streams(8, eight, 200 + 8 * run));
      const b2 = aggregateRate(await o.streams(8, [null], 200 + 8 * run));
      return { base: (b1 + b2) / 2, hetero: (h1 + h2) / 2 };
    }
    case "P4": {
      const P = SETTINGS.p4;
      await o.use(o.qv.slice(0, Math.max(...P.adapterCounts)));
      // each run starts the sweep at a different count, so a drift of the machine's load does not
      // always fall on the same end; results come back in adapterCounts order
      const rates: number[] = new Array(P.adapterCounts.length);
      for (let j = 0; j < P.adapterCounts.length; j++) {
        const i = (j + run) % P.adapterCounts.length;
        rates[i] = aggregateRate(await o.streams(P.streams, o.qv.slice(0, P.adapterCounts[i]), 500 + 32 * run, P.newTokens));
      }
      return rates;
    }
    case "P5":
      return coldLoad(o, run);
    case "P6": {
      const n = SETTINGS.p6.prompt;
      return prefillRate(await runStream(engine, { promptIds: promptIds(n, 300 + run, cfg.vocab), maxNewTokens: 1 }), n);
    }
    case "check": {
      const C = SETTINGS.check;
      const out: Record<string, number[][]> = {};
      for (const name of C.models) {
        if (name !== "base" && !cfg.adapters[name]) continue;
        if (name !== "base") await o.use([name]);
        out[name] = [];
        for (let p = 0; p < C.prompts; p++) {
          out[name].push((await runStream(engine, { promptIds: checkPrompt(p, cfg.vocab), adapterId: name === "base" ? null : name, maxNewTokens: C.newTokens })).ids);
        }
      }
      return out;
    }
    case "S1": {
      const Z = SETTINGS.sized;
      return decodeRate(await runStream(engine, { promptIds: promptIds(Z.prompt, 100 + run, cfg.vocab), maxNewTokens: Z.newTokens }));
    }
    case "S8": {
      const Z = SETTINGS.sized;
      const eight = o.qv.slice(0, Z.streams);
      await o.use(eight);
      return aggregateRate(await o.streams(Z.streams, eight, 200 + 8 * run, Z.newTokens));
    }
    case "PF": {
      const n = SETTINGS.sized.prefill;
      return prefillRate(await runStream(engine, { promptIds: promptIds(n, 300 + run, cfg.vocab), maxNewTokens: 1 }), n);
    }
    case "RSS": {
      const w = engine.model.weights;
      return { rssMB: process.memoryUsage().rss / 2 ** 20, dtype: w?.dtype, weightsMB: (w?.weightBytes ?? NaN) / 2 ** 20, kvMB: engine.limits.kvCacheBytes / 2 ** 20 };
    }
    case "P7":
      return memory(cfg);
    case "profile":
      return profile(o);
    default:
      throw new Error(`our side: no figure ${figure}`);
  }
}

export interface ColdLoadRun {
  adapterBytes: number;
  coldMs: number;
  warmMs: number;
  gapsQuiet: number[];
  gapsLoad: number[];
}

/**
 * P5, one run: with background streams decoding on the base, a request for the r=64
 * all-projection adapter registered but not resident (a fresh registration, so nothing is cached)
 * vs the same request once resident. Cold-load cost = TTFT(cold) - TTFT(resident). The
 * background streams' inter-token gaps overlapping the cold request (submit to first token) are
 * compared with their gaps in a quiet window just before.
 */
async function coldLoad(o: Ours, run: number): Promise<ColdLoadRun> {
  const { engine, cfg } = o;
  const P = SETTINGS.p5;
  const dir = cfg.adapters["all-r64"];
  const id = `all-r64-run${run}`;
  await engine.registerAdapter(id, dir, "local");
  const bg = Array.from({ length: P.backgroundStreams }, (_, i) => runStream(engine, {
    promptIds: promptIds(P.prompt, 600 + i, cfg.vocab), maxNewTokens: P.backgroundNewTokens,
  }));
  // wait until every background stream decodes (past its prefill), then a quiet window
  const firstTokens = () => engine.stats().tokensGenerated;
  const t0 = firstTokens();
  while (firstTokens() - t0 < 3 * P.backgroundStreams) await sleep(5);
  const quietFrom = performance.now();
  await sleep(300);
  const quietTo = performance.now();
  const req = { promptIds: promptIds(P.prompt, 700 + run, cfg.vocab), adapterId: id, maxNewTokens: 1 };
  const c = await runStream(engine, req);
  const w = await runStream(engine, req);
  const bgT = await Promise.all(bg);
  engine.unregisterAdapter(id);
  const gapsLoad: number[] = [];
  for (const t of bgT) {
    for (let i = 1; i < t.tokenTimes.length; i++) {
      if (t.tokenTimes[i] >= c.start && t.tokenTimes[i - 1] <= c.tokenTimes[0]) gapsLoad.push(t.tokenTimes[i] - t.tokenTimes[i - 1]);
    }
  }
  return {
    adapterBytes: fs.statSync(path.join(dir, "adapter_model.safetensors")).size,
    coldMs: c.tokenTimes[0] - c.start, warmMs: w.tokenTimes[0] - w.start,
    gapsQuiet: interTokenGaps(bgT, quietFrom, quietTo), gapsLoad,
  };
}

/**
 * Where the time goes: wraps every op of the native backend with a timer (the ops are synchronous
 * calls) during a single stream and during 8 streams on 8 distinct adapters; the rest of each
 * run's wall time is the engine's own TypeScript (scheduling, batch building, sampling) plus waits.
 */
async function profile(o: Ours): Promise<Record<string, unknown>> {
  const backend = nativeBackend as unknown as Record<string, unknown>;
  const vocab = o.engine.model.vocabSize;
  const out: Record<string, unknown> = {};
  for (const [label, run] of [
    ["1 stream, base", () => o.streams(1, [null], 900, 32)],
    ["8 streams, 8 adapters", async () => { await o.use(o.qv.slice(0, 8)); return o.streams(8, o.qv.slice(0, 8), 900, 32); }],
  ] as const) {
    const ms = new Map<string, number>();
    const saved = new Map<string, unknown>();
    for (const [name, fn] of Object.entries(backend)) {
      if (typeof fn !== "function") continue;
      saved.set(name, fn);
      backend[name] = (...a: unknown[]) => {
        const key = name === "matmul" ? (a[5] === vocab ? "matmul (lm_head)" : "matmul (layers)") : name;
        const t = performance.now();
        try { return (fn as (...x: unknown[]) => unknown).apply(nativeBackend, a); } finally { ms.set(key, (ms.get(key) ?? 0) + performance.now() - t); }
      };
    }
    const t0 = performance.now();
    try { await run(); } finally { for (const [name, fn] of saved) backend[name] = fn; }
    const wall = performance.now() - t0;
    const ops = [...ms.entries()].sort((a, b) => b[1] - a[1]);
    const opsTotal = ops.reduce((a, [, v]) => a + v, 0);
    out[label] = { wallMs: wall, shares: Object.fromEntries([...ops.map(([k, v]) => [k, v / wall]), ["other (TypeScript, waits)", (wall - opsTotal) / wall]]) };
    log(`ours profile ${label}: ${ops.map(([k, v]) => `${k} ${(100 * v / wall).toFixed(0)}%`).join(", ")}, other ${(100 * (wall - opsTotal) / wall).toFixed(0)}%`);
  }
  return out;
}

/** P7 in a fresh process: resident set after loading, after 100 registrations, after 16 hot adapters. */
async function memory(cfg: SideConfig): Promise<Record<string, unknown>> {
  const P = SETTINGS.p7;
  const rss = () => process.memoryUsage().rss;
  const r0 = rss();
  const engine = await Engine.create(engineOptions(cfg, { adapterSlots: P.hot, maxRunning: P.hot }));
  await runStream(engine, { promptIds: promptIds(16, 1, cfg.vocab), maxNewTokens: 2 });
  const rBase = rss();
  const qv = Object.keys(cfg.adapters).filter((n) => n.startsWith("qv-r8-")).sort().slice(0, P.registered);
  for (const n of qv) await engine.registerAdapter(n, cfg.adapters[n], "local");
  const rRegistered = rss();
  const hot = qv.slice(0, P.hot);
  await Promise.all(hot.map((n, i) => runStream(engine, { promptIds: promptIds(16, 800 + i, cfg.vocab), adapterId: n, maxNewTokens: P.newTokens })));
  const rHot = rss();
  const adapterBytes = hot.reduce((a, n) => a + fs.statSync(path.join(cfg.adapters[n], "adapter_model.safetensors")).size, 0);
  const limits = engine.limits;
  await engine.shutdown();
  const weightsBytes = fs.statSync(path.join(cfg.modelDir, "model.safetensors")).size;
  const out = {
    registered: qv.length, hot: hot.length, rssStartMB: r0 / 2 ** 20, rssBaseMB: rBase / 2 ** 20,
    rssRegisteredMB: rRegistered / 2 ** 20, rssHotMB: rHot / 2 ** 20, weightsMB: weightsBytes / 2 ** 20,
    hotAdaptersMB: adapterBytes / 2 ** 20, kvBudgetMB: limits.kvCacheBytes / 2 ** 20,
  };
  log(`ours P7 rss start ${out.rssStartMB.toFixed(0)} base ${out.rssBaseMB.toFixed(0)} +100 registered ${out.rssRegisteredMB.toFixed(0)} +16 hot ${out.rssHotMB.toFixed(0)} MiB`);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as SideConfig;
  if (process.argv[3] === "--memory") {
    // P7 needs a process without anything else loaded
    await serveCommands(() => memory(cfg), async () => {});
    return;
  }
  const o = await start(cfg);
  await serveCommands((c) => handle(o, c), () => o.engine.shutdown());
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => { log(String(e?.stack ?? e)); process.exit(1); });
}
