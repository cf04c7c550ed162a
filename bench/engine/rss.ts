/**
 * `npx tsx bench/engine/rss.ts --size 7b|small --dtype q8|q4|bf16 [--cache-dir DIR]`
 *
 * Issue 10 item 7 at size: our engine alone on the `bench:engine --size` synthetic checkpoint
 * (prepared by `bench:engine -- --size … --prepare`): load (maps the weight cache; builds it the
 * first time), one stream of 16 prompt + 8 new tokens (every weight page touched), then the
 * resident set vs weights in the chosen format + the KV pool (512 MiB) + 600 MiB. One JSON line.
 */
import os from "node:os";
import path from "node:path";
import { Engine } from "../../inference/engine/engine";
import { decodeRate, promptIds } from "./common";
import { runStream } from "./ours-side";
import { defaultCacheDir } from "./sized";
import { SIZES } from "./synthetic";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const size = arg("size", "7b");
  const dtype = arg("dtype", "q8");
  if (!(size in SIZES) || !["q8", "q4", "bf16"].includes(dtype)) {
    process.stderr.write("usage: npx tsx bench/engine/rss.ts --size 7b|small --dtype q8|q4|bf16 [--cache-dir DIR]\n");
    process.exit(2);
  }
  const root = path.join(path.resolve(arg("cache-dir", defaultCacheDir())), size);
  const t0 = Date.now();
  const engine = await Engine.create({
    modelDir: path.join(root, "synthetic", "base"), backend: "native", log: null, dtype: dtype as "q8", weightCacheDir: path.join(root, "weights"),
    kvCacheBytes: 512 * 2 ** 20, maxContext: 1024, maxRunning: 8,
  });
  const loadS = (Date.now() - t0) / 1000;
  const rssLoad = process.memoryUsage().rss;
  const t = await runStream(engine, { promptIds: promptIds(16, 100, SIZES[size as keyof typeof SIZES].vocab), maxNewTokens: 8 });
  const rss = process.memoryUsage().rss;
  const w = engine.model.weights!;
  const mib = (n: number) => Math.round(n / 2 ** 20);
  const bound = w.weightBytes + engine.limits.kvCacheBytes + 600 * 2 ** 20;
  process.stdout.write(`${JSON.stringify({
    size, dtype, loadS, cacheBuilt: w.cacheBuilt, rssAfterLoadMiB: mib(rssLoad), rssAfterStreamMiB: mib(rss), weightsMiB: mib(w.weightBytes),
    kvMiB: mib(engine.limits.kvCacheBytes), boundMiB: mib(bound), withinBound: rss <= bound, decodeTokS: decodeRate(t), loadAverage: os.loadavg()[0],
  })}\n`);
  await engine.shutdown();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
  process.exit(1);
});
