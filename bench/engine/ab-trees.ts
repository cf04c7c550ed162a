/**
 * `npx tsx bench/engine/ab-trees.ts DIR_A DIR_B [--rounds N] [--only decode1,adapters8,base32,prefill]`
 *
 * The same engine workloads on two checkouts of this repository (each with its native addon
 * built), interleaved A, B, A, B … in fresh processes so both meet the same machine load; prints
 * medians side by side with B ÷ A. Used to show that an engine change leaves the CPU figures
 * where they were (e.g. the parent commit vs a refactor). Workloads on the bundled demo model
 * (data/demo; small, so per-step overhead shows): single-stream decode (P1 shape), 8 streams on
 * 8 distinct adapters (P3 shape), 32 streams on the base model (P2/P4 shape) and a 400-token
 * prompt's prefill (P6 shape). Each process measures one workload once.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";

const WORKLOADS = ["decode1", "adapters8", "base32", "prefill"] as const;
type Workload = (typeof WORKLOADS)[number];

/** runs in a child: one workload on the engine of `tree`; prints tokens/s */
async function probe(tree: string, workload: Workload): Promise<void> {
  const { Engine } = await import(path.join(tree, "inference/engine/engine.ts"));
  const demo = path.join(tree, "data/demo");
  const engine = await Engine.create({ modelDir: path.join(demo, "base"), backend: "native", log: null, blockSize: 16, maxRunning: 32, maxBatchTokens: 512, adapterSlots: 16, kvCacheBytes: 256 * 2 ** 20, maxContext: 1024 });
  const names = ["arithmetic", "cmudict", "e2e", "fortune_topic", "ner", "sentiment", "spam", "sql"];
  for (const n of names) await engine.registerAdapter(n, path.join(demo, "adapters", n), "local");
  const prompt = (i: number) => Array.from({ length: 10 }, (_, j) => 1 + ((i * 31 + j * 7) % 500));
  const run = async (adapterId: string | null, promptIds: number[], maxNewTokens: number) => {
    let n = 0;
    for await (const ev of engine.generate({ promptIds, adapterId, maxNewTokens, ignoreEos: true })) {
      if (ev.type === "token") n++;
      else if (ev.type === "error") throw new Error(`${ev.code}: ${ev.message}`);
    }
    return n;
  };
  // warm-up: load every adapter, touch the kernels
  await Promise.all(names.map((n, i) => run(n, prompt(i), 2)));
  const t0 = performance.now();
  let tokens = 0;
  if (workload === "decode1") tokens = await run(null, prompt(0), 768);
  else if (workload === "adapters8") tokens = (await Promise.all(names.map((n, i) => run(n, prompt(i), 64)))).reduce((a, b) => a + b, 0);
  else if (workload === "base32") tokens = (await Promise.all(Array.from({ length: 32 }, (_, i) => run(null, prompt(i), 32)))).reduce((a, b) => a + b, 0);
  else {
    const long = Array.from({ length: 400 }, (_, j) => 1 + ((j * 13) % 900));
    await run(null, long, 1);
    tokens = long.length;
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ rate: tokens / s }) + "\n");
  process.exit(0);
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--probe") return probe(argv[1], argv[2] as Workload);
  const [a, b] = argv.filter((x) => !x.startsWith("--")).map((d) => path.resolve(d));
  const ri = argv.indexOf("--rounds");
  const rounds = ri >= 0 ? Number(argv[ri + 1]) : 5;
  if (!a || !b || !(rounds >= 1)) {
    process.stderr.write("usage: npx tsx bench/engine/ab-trees.ts DIR_A DIR_B [--rounds N]\n");
    process.exit(2);
  }
  const oi = argv.indexOf("--only");
  const workloads = oi >= 0 ? WORKLOADS.filter((w) => argv[oi + 1].split(",").includes(w)) : [...WORKLOADS];
  const rates: Record<string, { a: number[]; b: number[] }> = Object.fromEntries(WORKLOADS.map((w) => [w, { a: [], b: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const w of workloads) {
      // alternate which tree goes first, so drift in the machine's load weighs on both
      const order: ("a" | "b")[] = r % 2 ? ["b", "a"] : ["a", "b"];
      for (const side of order) {
        const out = execFileSync(process.execPath, ["--import", "tsx", import.meta.filename, "--probe", side === "a" ? a : b, w], { encoding: "utf8", cwd: side === "a" ? a : b });
        rates[w][side].push(JSON.parse(out.trim().split("\n").at(-1)!).rate);
      }
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`);
  }
  console.log(`# ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} CPUs, Node ${process.version}, load average at end ${os.loadavg()[0].toFixed(2)}; medians of ${rounds}`);
  console.log(`A = ${a}\nB = ${b}\n`);
  console.log("| workload | A tok/s | B tok/s | B ÷ A |\n|---|---|---|---|");
  for (const w of workloads) {
    const ma = median(rates[w].a);
    const mb = median(rates[w].b);
    console.log(`| ${w} | ${ma.toFixed(1)} | ${mb.toFixed(1)} | ${(mb / ma).toFixed(3)} |`);
  }
}

await main();
