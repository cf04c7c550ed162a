/**
 * The llama.cpp side of the engine benchmark (node-llama-cpp 3.21.1, prebuilt CPU binary, from
 * bench/llama/node_modules). Runs in its own process so its memory and threads do not mix with
 * ours. Input: a SideConfig as JSON in argv[2]. Output: one `RESULT {...}` line.
 *
 * llama.cpp applies a LoRA per context and does not batch sequences with different adapters, so
 * N distinct adapters are N contexts (one sequence each) evaluated concurrently; node-llama-cpp
 * shares the `maxThreads` budget (= threads) between contexts evaluating at the same time.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  SETTINGS, aggregateRate, decodeRate, emitResult, log, median, promptIds, type SideConfig, type StreamTiming,
} from "./common";

// the few node-llama-cpp types used here (the package is installed on demand, outside the root deps)
interface LlamaSequence {
  evaluate(tokens: number[], opts: { temperature: number }): AsyncGenerator<number>;
  clearHistory(): Promise<void>;
}
interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
interface LlamaModel {
  createContext(opts: {
    contextSize: number; sequences: number; threads: number; batchSize?: number;
    lora?: { adapters: { filePath: string; scale?: number }[] };
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface Llama {
  loadModel(opts: { modelPath: string; gpuLayers: number }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}

export const LLAMA_DIR = path.resolve(import.meta.dirname, "..", "llama");

export async function loadLlama(threads: number): Promise<Llama> {
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
  const url = pathToFileURL(path.join(LLAMA_DIR, "node_modules", "node-llama-cpp", "dist", "index.js")).href;
  const mod = (await import(url)) as {
    getLlama(o: Record<string, unknown>): Promise<Llama>;
    LlamaLogLevel: Record<string, unknown>;
  };
  return mod.getLlama({
    gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false,
    logLevel: mod.LlamaLogLevel.error, maxThreads: threads,
  });
}

/** Evaluates a prompt and collects up to maxNew greedy tokens with their arrival times. */
export async function runStream(seq: LlamaSequence, prompt: number[], maxNew: number): Promise<StreamTiming> {
  const t: StreamTiming = { start: performance.now(), tokenTimes: [], ids: [] };
  for await (const id of seq.evaluate(prompt, { temperature: 0 })) {
    t.tokenTimes.push(performance.now());
    t.ids.push(id);
    if (t.ids.length >= maxNew) break;
  }
  return t;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as SideConfig;
  const llama = await loadLlama(cfg.threads);
  const model = await llama.loadModel({ modelPath: cfg.ggufModel!, gpuLayers: 0 });
  const result: Record<string, unknown> = {};
  const want = (f: string) => cfg.figures.includes(f);
  const S = SETTINGS.streams;
  const streamNew = cfg.quick ? S.quickNewTokens : S.newTokens;

  if (want("P1")) {
    const ctx = await model.createContext({ contextSize: 512, sequences: 1, threads: cfg.threads });
    const seq = ctx.getSequence();
    const rates: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      await seq.clearHistory();
      rates.push(decodeRate(await runStream(seq, promptIds(SETTINGS.p1.prompt, 100 + r, cfg.vocab), SETTINGS.p1.newTokens)));
    }
    result.P1 = { tokPerS: median(rates), runs: rates };
    log(`llama.cpp P1 ${rates.map((x) => x.toFixed(1)).join(" ")} tok/s`);
    await ctx.dispose();
  }

  if (want("P3")) {
    // 8 distinct adapters: one context per adapter, all evaluating concurrently
    const names = Object.keys(cfg.adapters).filter((n) => n.startsWith("qv-r8-")).slice(0, 8);
    const ctxs = await Promise.all(names.map((n) => model.createContext({
      contextSize: 256, sequences: 1, threads: cfg.threads, lora: { adapters: [{ filePath: cfg.adapters[n] }] },
    })));
    const seqs = ctxs.map((c) => c.getSequence());
    const rates: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      await Promise.all(seqs.map((s) => s.clearHistory()));
      const ts = await Promise.all(seqs.map((s, i) => runStream(s, promptIds(S.prompt, 200 + 8 * r + i, cfg.vocab), streamNew)));
      rates.push(aggregateRate(ts));
    }
    result.P3 = { tokPerS: median(rates), runs: rates, adapters: names.length };
    log(`llama.cpp P3 (8 contexts x 1 adapter) ${rates.map((x) => x.toFixed(1)).join(" ")} tok/s`);
    for (const c of ctxs) await c.dispose();

    // for scale: 8 streams on the base in ONE context (llama.cpp batches these)
    const ctx = await model.createContext({ contextSize: 256 * 8, sequences: 8, threads: cfg.threads });
    const bseqs = Array.from({ length: 8 }, () => ctx.getSequence());
    const brates: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      await Promise.all(bseqs.map((s) => s.clearHistory()));
      const ts = await Promise.all(bseqs.map((s, i) => runStream(s, promptIds(S.prompt, 200 + 8 * r + i, cfg.vocab), streamNew)));
      brates.push(aggregateRate(ts));
    }
    result.base8 = { tokPerS: median(brates), runs: brates };
    log(`llama.cpp 8 streams base, one context ${brates.map((x) => x.toFixed(1)).join(" ")} tok/s`);
    await ctx.dispose();
  }

  if (want("P6")) {
    const n = SETTINGS.p6.prompt;
    const ctx = await model.createContext({ contextSize: 1024, sequences: 1, threads: cfg.threads, batchSize: n });
    const seq = ctx.getSequence();
    const rates: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      await seq.clearHistory();
      const t = await runStream(seq, promptIds(n, 300 + r, cfg.vocab), 1);
      rates.push(n / ((t.tokenTimes[0] - t.start) / 1000));
    }
    result.P6 = { tokPerS: median(rates), runs: rates };
    log(`llama.cpp P6 ${rates.map((x) => x.toFixed(0)).join(" ")} prompt tok/s`);
    await ctx.dispose();
  }

  if (want("check")) {
    // greedy ids for the correctness comparison: base and two adapters, 3 prompts each
    const checks: Record<string, number[][]> = {};
    for (const name of ["base", "qv-r8-000", "all-r16"]) {
      if (name !== "base" && !cfg.adapters[name]) continue;
      const ctx = await model.createContext({
        contextSize: 256, sequences: 1, threads: cfg.threads,
        lora: name === "base" ? undefined : { adapters: [{ filePath: cfg.adapters[name] }] },
      });
      const seq = ctx.getSequence();
      checks[name] = [];
      for (let p = 0; p < 3; p++) {
        await seq.clearHistory();
        checks[name].push((await runStream(seq, promptIds(8 + 12 * p, 400 + p, cfg.vocab), 24)).ids);
      }
      await ctx.dispose();
    }
    result.check = checks;
  }

  await model.dispose();
  await llama.dispose();
  emitResult(result);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => { log(String(e?.stack ?? e)); process.exit(1); });
}
