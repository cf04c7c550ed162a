/**
 * Our engine's side of the benchmark (inference/engine, native backend). Runs in its own process
 * (no llama.cpp in memory, so P7's resident set is ours alone). Input: SideConfig JSON in argv[2].
 * Output: one `RESULT {...}` line.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Engine, type EngineCreateOptions } from "../../inference/engine/engine";
import type { GenerateRequest } from "../../inference/engine/types";
import {
  SETTINGS, aggregateRate, decodeRate, emitResult, interTokenGaps, log, median, percentile, promptIds,
  type SideConfig, type StreamTiming,
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
    adapterSlots: 40, kvCacheBytes: 512 * 2 ** 20, maxContext: 1024, ...extra,
  };
}

async function measure(cfg: SideConfig): Promise<Record<string, unknown>> {
  const engine = await Engine.create(engineOptions(cfg));
  const result: Record<string, unknown> = { backend: engine.model.backend, parameters: engine.model.parameters };
  const want = (f: string) => cfg.figures.includes(f);
  const S = SETTINGS.streams;
  const streamNew = cfg.quick ? S.quickNewTokens : S.newTokens;
  const qv = Object.keys(cfg.adapters).filter((n) => n.startsWith("qv-r8-")).sort();
  const registered = new Set<string>();
  const use = async (names: string[]) => {
    for (const n of names) {
      if (!registered.has(n)) { await engine.registerAdapter(n, cfg.adapters[n], "local"); registered.add(n); }
      await engine.preloadAdapter(n);
    }
  };
  /** n concurrent streams, stream i on adapter adapters[i % adapters.length] (null = base) */
  const streams = (n: number, adapters: (string | null)[], seed: number, maxNew = streamNew) =>
    Promise.all(Array.from({ length: n }, (_, i) => runStream(engine, {
      promptIds: promptIds(S.prompt, seed + i, cfg.vocab), adapterId: adapters[i % adapters.length], maxNewTokens: maxNew,
    })));

  // warm up: first forward passes (allocations, page faults of the weights)
  await streams(2, [null], 1, 4);

  if (want("P1")) {
    const rates: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      rates.push(decodeRate(await runStream(engine, { promptIds: promptIds(SETTINGS.p1.prompt, 100 + r, cfg.vocab), maxNewTokens: SETTINGS.p1.newTokens })));
    }
    result.P1 = { tokPerS: median(rates), runs: rates };
    log(`ours P1 ${rates.map((x) => x.toFixed(1)).join(" ")} tok/s`);
  }

  if (want("P2") || want("P3")) {
    // base and 8 distinct adapters alternate, so each ratio compares neighbours in time
    const eight = qv.slice(0, 8);
    await use(eight);
    const base: number[] = [], hetero: number[] = [], ratios: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      const b = aggregateRate(await streams(8, [null], 200 + 8 * r));
      const h = aggregateRate(await streams(8, eight, 200 + 8 * r));
      base.push(b); hetero.push(h); ratios.push(h / b);
    }
    result.P2 = { base: median(base), hetero: median(hetero), ratio: median(ratios), baseRuns: base, heteroRuns: hetero };
    result.P3 = { tokPerS: median(hetero), runs: hetero };
    log(`ours 8 streams base ${base.map((x) => x.toFixed(1)).join(" ")}; 8 distinct adapters ${hetero.map((x) => x.toFixed(1)).join(" ")} tok/s`);
  }

  if (want("P4")) {
    const counts = [1, 2, 4, 8, 16, 32];
    await use(qv.slice(0, 32));
    const rows: { adapters: number; tokPerS: number; runs: number[] }[] = [];
    const runs = Math.max(1, cfg.quick ? 1 : cfg.runs);
    for (const k of counts) {
      const rates: number[] = [];
      for (let r = 0; r < runs; r++) rates.push(aggregateRate(await streams(32, qv.slice(0, k), 500 + 32 * r)));
      rows.push({ adapters: k, tokPerS: median(rates), runs: rates });
      log(`ours P4 32 streams / ${k} adapters ${rates.map((x) => x.toFixed(1)).join(" ")} tok/s`);
    }
    result.P4 = rows;
  }

  if (want("P5")) result.P5 = await coldLoad(engine, cfg);

  if (want("P6")) {
    const n = SETTINGS.p6.prompt;
    const rates: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      const t = await runStream(engine, { promptIds: promptIds(n, 300 + r, cfg.vocab), maxNewTokens: 1 });
      rates.push(n / ((t.tokenTimes[0] - t.start) / 1000));
    }
    result.P6 = { tokPerS: median(rates), runs: rates };
    log(`ours P6 ${rates.map((x) => x.toFixed(0)).join(" ")} prompt tok/s`);
  }

  if (want("check")) {
    const checks: Record<string, number[][]> = {};
    for (const name of ["base", "qv-r8-000", "all-r16"]) {
      if (name !== "base" && !cfg.adapters[name]) continue;
      if (name !== "base") await use([name]);
      checks[name] = [];
      for (let p = 0; p < 3; p++) {
        checks[name].push((await runStream(engine, {
          promptIds: promptIds(8 + 12 * p, 400 + p, cfg.vocab), adapterId: name === "base" ? null : name, maxNewTokens: 24,
        })).ids);
      }
    }
    result.check = checks;
  }
  await engine.shutdown();
  return result;
}

/**
 * P5: with background streams decoding on the base, a request for the r=64 all-projection adapter
 * that is registered but not resident (a fresh registration each run, so nothing is cached) vs the
 * same request once resident. Cold-load cost = TTFT(cold) - TTFT(resident). Meanwhile the
 * background streams' inter-token gaps overlapping the load are compared with gaps of a window
 * without any load.
 */
async function coldLoad(engine: Engine, cfg: SideConfig): Promise<Record<string, unknown>> {
  const P = SETTINGS.p5;
  const dir = cfg.adapters["all-r64"];
  const bytes = fs.statSync(path.join(dir, "adapter_model.safetensors")).size;
  const cold: number[] = [], warm: number[] = [], gapsLoad: number[] = [], gapsQuiet: number[] = [];
  for (let r = 0; r < cfg.runs; r++) {
    const id = `all-r64-run${r}`;
    await engine.registerAdapter(id, dir, "local");
    const bg = Array.from({ length: P.backgroundStreams }, (_, i) => runStream(engine, {
      promptIds: promptIds(P.prompt, 600 + i, cfg.vocab), maxNewTokens: P.backgroundNewTokens,
    }));
    await sleep(150); // background streams past their prefill, decoding steadily
    const quietFrom = performance.now();
    await sleep(250);
    const quietTo = performance.now();
    const c = await runStream(engine, { promptIds: promptIds(P.prompt, 700 + r, cfg.vocab), adapterId: id, maxNewTokens: 1 });
    const w = await runStream(engine, { promptIds: promptIds(P.prompt, 700 + r, cfg.vocab), adapterId: id, maxNewTokens: 1 });
    const bgT = await Promise.all(bg);
    cold.push(c.tokenTimes[0] - c.start);
    warm.push(w.tokenTimes[0] - w.start);
    gapsQuiet.push(...interTokenGaps(bgT, quietFrom, quietTo));
    // gaps that overlap the cold request's life (from submit to its first token)
    for (const t of bgT) {
      for (let i = 1; i < t.tokenTimes.length; i++) {
        if (t.tokenTimes[i] >= c.start && t.tokenTimes[i - 1] <= c.tokenTimes[0]) gapsLoad.push(t.tokenTimes[i] - t.tokenTimes[i - 1]);
      }
    }
    engine.unregisterAdapter(id);
  }
  const loadMs = median(cold.map((c, i) => c - warm[i]));
  const out = {
    adapterBytes: bytes, ttftColdMs: median(cold), ttftWarmMs: median(warm), coldMinusWarmMs: loadMs,
    mbPerS: bytes / 1e6 / (loadMs / 1000), p99GapQuietMs: percentile(gapsQuiet, 99), p99GapLoadMs: percentile(gapsLoad, 99),
    coldRuns: cold, warmRuns: warm,
  };
  log(`ours P5 cold ${cold.map((x) => x.toFixed(1)).join(" ")} ms, warm ${warm.map((x) => x.toFixed(1)).join(" ")} ms; p99 gaps quiet ${out.p99GapQuietMs?.toFixed(1)} load ${out.p99GapLoadMs?.toFixed(1)} ms`);
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
  if (cfg.figures.length === 1 && cfg.figures[0] === "P7") emitResult({ P7: await memory(cfg) });
  else emitResult(await measure(cfg));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => { log(String(e?.stack ?? e)); process.exit(1); });
}
