/**
 * `npm run bench:engine [-- --quick] [-- --only P1,P3] [-- --runs N]`
 *
 * The P1–P7 figures of docs/PERFORMANCE.md on the synthetic Mistral-shaped model (generated here,
 * bench/out/synthetic), ours side by side with llama.cpp (node-llama-cpp 3.21.1, installed on
 * demand into bench/llama/node_modules, prebuilt CPU binary only) on the same weights and adapters
 * exported to GGUF by bench/engine/gguf-export.ts. Each side runs in its own process, one after the
 * other in this one invocation. Writes bench/out/engine.md (+ engine.json, p4.svg/png).
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BENCH_SHAPE, ensureSynthetic, qvName } from "./synthetic";
import { exportAdapterGguf, exportModelGguf } from "./gguf-export";
import { log, type SideConfig } from "./common";
import { renderMarkdown, renderP4Svg, type Results } from "./report";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const OUT = path.join(ROOT, "bench", "out");
const LLAMA_DIR = path.join(ROOT, "bench", "llama");
const ALL = ["P1", "P2", "P3", "P4", "P5", "P6", "P7"];
/** bump when the GGUF export changes */
const EXPORT_VERSION = 1;

function parseArgs(argv: string[]): { quick: boolean; only: string[]; runs: number | null } {
  const out = { quick: false, only: ALL, runs: null as number | null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") out.quick = true;
    else if (a === "--only") out.only = (argv[++i] ?? "").split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
    else if (a.startsWith("--only=")) out.only = a.slice(7).split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
    else if (a === "--runs") out.runs = Number(argv[++i]);
    else {
      process.stderr.write(`bench:engine: unknown argument ${a}\nusage: npm run bench:engine -- [--quick] [--only P1,P3] [--runs N]\n`);
      process.exit(2);
    }
  }
  const bad = out.only.filter((f) => !ALL.includes(f) && f !== "CHECK");
  if (bad.length || out.only.length === 0 || (out.runs !== null && !(out.runs >= 1))) {
    process.stderr.write(`bench:engine: --only takes figures among ${ALL.join(",")}; --runs a positive integer\n`);
    process.exit(2);
  }
  return out;
}

/** Installs node-llama-cpp 3.21.1 + its linux-x64 CPU binary into bench/llama (no scripts, no downloads). */
function ensureLlamaInstalled(): boolean {
  const ok = () => fs.existsSync(path.join(LLAMA_DIR, "node_modules", "node-llama-cpp", "dist", "index.js"))
    && fs.existsSync(path.join(LLAMA_DIR, "node_modules", "@node-llama-cpp", "linux-x64", "bins"));
  if (ok()) return true;
  if (process.platform !== "linux" || process.arch !== "x64") {
    log(`llama.cpp peer: only the linux-x64 CPU binary is pinned; skipping on ${process.platform}-${process.arch}`);
    return false;
  }
  log("installing the llama.cpp peer (node-llama-cpp 3.21.1, CPU binary) into bench/llama/node_modules ...");
  try {
    execFileSync("npm", ["ci", "--prefix", LLAMA_DIR, "--no-audit", "--no-fund", "--omit=optional", "--ignore-scripts"], {
      stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    });
  } catch (e) {
    log(`llama.cpp peer install failed (${(e as Error).message}); llama.cpp columns will be empty`);
  }
  return ok();
}

function ensureGguf(synthRoot: string, base: string, adapters: Map<string, string>, names: string[]): { model: string; adapters: Record<string, string> } {
  const dir = path.join(OUT, "gguf");
  const stamp = `${EXPORT_VERSION}:${fs.readFileSync(path.join(synthRoot, "stamp.json"), "utf8")}:${names.join(",")}`;
  const stampFile = path.join(dir, "stamp.txt");
  const model = path.join(dir, "base.gguf");
  const files = Object.fromEntries(names.map((n) => [n, path.join(dir, `${n}.gguf`)]));
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === stamp) return { model, adapters: files };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  exportModelGguf(base, model, "loraland-bench-synthetic-mistral");
  for (const n of names) exportAdapterGguf(adapters.get(n)!, base, files[n]);
  fs.writeFileSync(stampFile, stamp);
  log(`exported GGUF model + ${names.length} adapters in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { model, adapters: files };
}

/** Runs one side in a child process; resolves with its RESULT line (or null when it failed). */
function runSide(script: string, cfg: SideConfig, label: string): Promise<Record<string, unknown> | null> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, script), JSON.stringify(cfg)], {
      cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    });
    let stdout = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.on("close", (code) => {
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      log(`${label}: ${code === 0 && line ? "done" : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      resolve(code === 0 && line ? JSON.parse(line.slice(7)) : null);
    });
  });
}

function machineLine(): string {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "unknown CPU";
  const flags = /flags\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1].split(" ") ?? [];
  const isa = ["avx2", "avx512f", "avx512_bf16"].filter((f) => flags.includes(f)).join("/");
  return `${cpu} (${isa}), ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ` +
    `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, load average at start ${os.loadavg()[0].toFixed(2)}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const figures = args.only;
  const runs = args.runs ?? (args.quick ? 2 : 5);
  const machine = machineLine();
  log(`bench:engine ${figures.join(",")} runs=${runs}${args.quick ? " (quick)" : ""}; ${machine}`);

  const synth = ensureSynthetic(path.join(OUT, "synthetic"), BENCH_SHAPE, undefined, log);
  const adapterDirs = Object.fromEntries(synth.adapters);
  const threads = Math.min(2, os.cpus().length);
  const common = { modelDir: synth.base, runs, threads, quick: args.quick, vocab: BENCH_SHAPE.vocab };

  const results: Results = { machine, runs, quick: args.quick, threads, ours: {}, llama: {}, llamaAvailable: false };
  const llamaFigures = figures.filter((f) => ["P1", "P3", "P6"].includes(f));
  if (llamaFigures.length && ensureLlamaInstalled()) {
    const gguf = ensureGguf(synth.root, synth.base, synth.adapters, [...Array.from({ length: 8 }, (_, i) => qvName(i)), "all-r16"]);
    const r = await runSide("llama-side.ts", { ...common, ggufModel: gguf.model, adapters: gguf.adapters, figures: [...llamaFigures, "check"] }, "llama.cpp side");
    if (r) { results.llama = r; results.llamaAvailable = true; }
  }
  const ourFigures = figures.filter((f) => f !== "P7");
  if (ourFigures.length) {
    const r = await runSide("ours-side.ts", { ...common, adapters: adapterDirs, figures: [...ourFigures, ...(results.llamaAvailable ? ["check"] : [])] }, "our side");
    if (r) results.ours = r;
  }
  if (figures.includes("P7")) {
    const r = await runSide("ours-side.ts", { ...common, adapters: adapterDirs, figures: ["P7"] }, "our side (P7, fresh process)");
    if (r) results.ours.P7 = r.P7;
  }

  const md = renderMarkdown(results, ((Date.now() - t0) / 1000));
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, "engine.md"), md);
  fs.writeFileSync(path.join(OUT, "engine.json"), JSON.stringify(results, null, 2));
  if (results.ours.P4) await writeChart(renderP4Svg(results.ours.P4 as never));
  process.stdout.write(md);
}

/** P4 chart: the SVG always, a PNG through headless Chromium when it is there. */
async function writeChart(svg: string): Promise<void> {
  const svgFile = path.join(OUT, "p4.svg");
  fs.writeFileSync(svgFile, svg);
  const exe = process.env.CHROME_PATH || "/usr/bin/chromium";
  if (!fs.existsSync(exe)) return;
  try {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: exe });
    const page = await browser.newPage({ viewport: { width: 640, height: 360 } });
    await page.setContent(`<body style="margin:0">${svg}</body>`);
    await page.screenshot({ path: path.join(OUT, "p4.png") });
    await browser.close();
  } catch (e) {
    log(`P4 PNG skipped: ${(e as Error).message.split("\n")[0]}`);
  }
}

main().catch((e) => { log(String(e?.stack ?? e)); process.exit(1); });
