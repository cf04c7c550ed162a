/**
 * The llama.cpp side of the engine benchmark (node-llama-cpp 3.21.1, prebuilt CPU binary, from
 * bench/llama/node_modules), in its own process so its memory and threads do not mix with ours.
 * Started with a SideConfig (argv[2]); then answers one Command per stdin line (see common.ts), so
 * run.ts can interleave its runs with ours under the same machine load.
 *
 * llama.cpp applies a LoRA per context and does not batch sequences with different adapters, so
 * N distinct adapters are N contexts (one sequence each) evaluated concurrently; node-llama-cpp
 * shares its `maxThreads` budget (= threads) between the contexts evaluating at the same time.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  SETTINGS, aggregateRate, checkPrompt, decodeRate, log, prefillRate, promptIds, serveCommands, streamNewTokens,
  type Command, type SideConfig, type StreamTiming,
} from "./common";

// the few node-llama-cpp types used here (the package is installed on demand, outside the root deps)
export interface LlamaSequence {
  evaluate(tokens: number[], opts: { temperature: number }): AsyncGenerator<number>;
  clearHistory(): Promise<void>;
}
export interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
export interface LlamaModel {
  createContext(opts: {
    contextSize: number; sequences: number; threads: number; batchSize?: number;
    lora?: { adapters: { filePath: string; scale?: number }[] };
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
export interface Llama {
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
  await seq.clearHistory();
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
  const contexts = new Map<string, { ctxs: LlamaContext[]; seqs: LlamaSequence[] }>();
  /** contexts (and their sequences) are made once per setting and reused by every run */
  const seqsOf = async (key: string, make: () => Promise<LlamaContext[]>, perContext = 1) => {
    if (!contexts.has(key)) {
      const cs = await make();
      contexts.set(key, { ctxs: cs, seqs: cs.flatMap((c) => Array.from({ length: perContext }, () => c.getSequence())) });
    }
    return contexts.get(key)!.seqs;
  };
  const lora = (name: string) => (name === "base" ? undefined : { adapters: [{ filePath: cfg.adapters[name] }] });
  const S = SETTINGS.streams;
  const newTokens = streamNewTokens(cfg.quick);

  const handle = async ({ figure, run }: Command): Promise<unknown> => {
    switch (figure) {
      case "P1": {
        const [seq] = await seqsOf("P1", async () => [await model.createContext({ contextSize: 512, sequences: 1, threads: cfg.threads })]);
        return decodeRate(await runStream(seq, promptIds(SETTINGS.p1.prompt, 100 + run, cfg.vocab), SETTINGS.p1.newTokens));
      }
      case "P1-1thread": {
        // the same with one thread: shows how much of P1 is lost to a busy machine (2 spinning threads stall when one is descheduled)
        const [seq] = await seqsOf("P1-1thread", async () => [await model.createContext({ contextSize: 512, sequences: 1, threads: 1 })]);
        return decodeRate(await runStream(seq, promptIds(SETTINGS.p1.prompt, 100 + run, cfg.vocab), SETTINGS.p1.newTokens));
      }
      case "P3": {
        // 8 distinct adapters: one context per adapter, evaluating concurrently
        const names = Object.keys(cfg.adapters).filter((n) => n.startsWith("qv-r8-")).sort().slice(0, 8);
        const seqs = await seqsOf("P3", () => Promise.all(names.map((n) => model.createContext({ contextSize: 256, sequences: 1, threads: cfg.threads, lora: lora(n) }))));
        return aggregateRate(await Promise.all(seqs.map((s, i) => runStream(s, promptIds(S.prompt, 200 + 8 * run + i, cfg.vocab), newTokens))));
      }
      case "base8": {
        // for scale: 8 streams on the base in ONE context, which llama.cpp batches
        const seqs = await seqsOf("base8", async () => [await model.createContext({ contextSize: 256 * 8, sequences: 8, threads: cfg.threads })], 8);
        return aggregateRate(await Promise.all(seqs.map((s, i) => runStream(s, promptIds(S.prompt, 200 + 8 * run + i, cfg.vocab), newTokens))));
      }
      case "P6": {
        const n = SETTINGS.p6.prompt;
        const [seq] = await seqsOf("P6", async () => [await model.createContext({ contextSize: 1024, sequences: 1, threads: cfg.threads, batchSize: n })]);
        return prefillRate(await runStream(seq, promptIds(n, 300 + run, cfg.vocab), 1), n);
      }
      case "S1": {
        const Z = SETTINGS.sized;
        const [seq] = await seqsOf("S1", async () => [await model.createContext({ contextSize: 256, sequences: 1, threads: cfg.threads })]);
        return decodeRate(await runStream(seq, promptIds(Z.prompt, 100 + run, cfg.vocab), Z.newTokens));
      }
      case "S1-1thread": {
        const Z = SETTINGS.sized;
        const [seq] = await seqsOf("S1-1thread", async () => [await model.createContext({ contextSize: 256, sequences: 1, threads: 1 })]);
        return decodeRate(await runStream(seq, promptIds(Z.prompt, 100 + run, cfg.vocab), Z.newTokens));
      }
      case "S8": {
        // 8 distinct adapters: one context per adapter, evaluating concurrently (as P3)
        const Z = SETTINGS.sized;
        const names = Object.keys(cfg.adapters).filter((n) => n.startsWith("qv-r8-")).sort().slice(0, Z.streams);
        const seqs = await seqsOf("S8", () => Promise.all(names.map((n) => model.createContext({ contextSize: 64, sequences: 1, threads: cfg.threads, lora: lora(n) }))));
        return aggregateRate(await Promise.all(seqs.map((s, i) => runStream(s, promptIds(Z.prompt, 200 + 8 * run + i, cfg.vocab), Z.newTokens))));
      }
      case "PF": {
        const n = SETTINGS.sized.prefill;
        const [seq] = await seqsOf("PF", async () => [await model.createContext({ contextSize: 1024, sequences: 1, threads: cfg.threads, batchSize: n })]);
        return prefillRate(await runStream(seq, promptIds(n, 300 + run, cfg.vocab), 1), n);
      }
      case "warmup": {
        // page the weights in before the first timed run (ours does the same when it starts)
        const [seq] = await seqsOf("S1", async () => [await model.createContext({ contextSize: 256, sequences: 1, threads: cfg.threads })]);
        return (await runStream(seq, promptIds(4, 1, cfg.vocab), 2)).ids.length;
      }
      case "RSS":
        return { rssMB: process.memoryUsage().rss / 2 ** 20 };
      case "check": {
        const C = SETTINGS.check;
        const out: Record<string, number[][]> = {};
        for (const name of C.models) {
          if (name !== "base" && !cfg.adapters[name]) continue;
          const ctx = await model.createContext({ contextSize: 256, sequences: 1, threads: cfg.threads, lora: lora(name) });
          const seq = ctx.getSequence();
          out[name] = [];
          for (let p = 0; p < C.prompts; p++) out[name].push((await runStream(seq, checkPrompt(p, cfg.vocab), C.newTokens)).ids);
          await ctx.dispose();
        }
        return out;
      }
      default:
        throw new Error(`llama.cpp side: no figure ${figure}`);
    }
  };
  await serveCommands(handle, async () => {
    for (const { ctxs } of contexts.values()) for (const c of ctxs) await c.dispose();
    await model.dispose();
    await llama.dispose();
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => { log(String(e?.stack ?? e)); process.exit(1); });
}
