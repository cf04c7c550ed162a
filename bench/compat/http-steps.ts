/**
 * Per-step fixed cost through the HTTP API (issue 13 item 10): the real worker on the ~25M model
 * (synthetic-25m.ts), 8 streams on 8 distinct adapters via POST /generate (or /generate_stream
 * with --stream), 10-token prompts, 64 new tokens. The worker runs with bench/compat/step-timers.ts
 * preloaded: each step is split into the forward pass, scheduling, sampling, detokenizing, stop
 * matching, the rest of the step, HTTP writes and the time between steps. Per-step overhead =
 * wall time per step - forward per step. Medians over --runs, with the load average.
 *
 *   npx tsx bench/compat/http-steps.ts [--runs 7] [--stream] [--ab OTHER_CHECKOUT] [--llama]
 *
 * --llama also runs llama.cpp (p3-llama.ts, its own process, 2 threads) on the same weights,
 * adapters and prompt ids, interleaved run by run: P3 = our tok/s through HTTP ÷ llama.cpp's.
 *
 * Each run starts a fresh worker (a warm-up round, then the measured one) and stops it, so only one
 * worker lives at a time. --ab runs a second checkout (e.g. `git archive` of the commit before a
 * change, with node_modules and build/ linked, and this folder copied in), alternating the two run
 * by run; --a replaces this checkout as the first side.
 */
import { spawn, type ChildProcess } from "node:child_process";
import readline from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ensure25m, median, ROOT } from "./synthetic-25m";
import { freePort } from "../../server/eval/worker-process";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "7" },
    stream: { type: "boolean", default: false },
    ab: { type: "string" },
    /** the first side's checkout (default: this one) */
    a: { type: "string" },
    streams: { type: "string", default: "8" },
    /** also run llama.cpp on the same model, adapters and prompt ids (p3-llama.ts), interleaved */
    llama: { type: "boolean", default: false },
    tokens: { type: "string", default: "64" },
  },
});
const RUNS = Number(args.runs);
const STREAMS = Number(args.streams);
const NEW = Number(args.tokens);

interface Side {
  label: string;
  url: string;
  child: ChildProcess;
  ask(m: string): Promise<{ steps: number; ms: Record<string, number> }>;
}

async function startWorker(label: string, root: string, model: string, adapters: string): Promise<Side> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "--import", path.join(root, "bench/compat/step-timers.ts"), path.join(root, "inference/cli/main.ts"), "serve",
    "--port", String(port), "--host", "127.0.0.1", "--model", model, "--adapters", adapters, "--model-id", "synth-25m", "--max-new-tokens", String(NEW), "--slots", "8"], {
    cwd: root, stdio: ["ignore", "ignore", "pipe", "ipc"], env: { ...process.env, DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "h5-steps-")) },
  });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${label} worker exited\n${err}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 1200) throw new Error(`${label} worker not ready\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const ask = (m: string) => new Promise<{ steps: number; ms: Record<string, number> }>((resolve) => {
    child.once("message", (r) => resolve(r as { steps: number; ms: Record<string, number> }));
    child.send(m);
  });
  return { label, url, child, ask };
}

/** p3-llama.ts in its own process: P3 tok/s for the given prompt ids */
async function startLlama(): Promise<{ ask(prompts: number[][], run: number): Promise<number>; close(): void }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/compat/p3-llama.ts"), "2"], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error("the llama.cpp side exited");
    return r.value as string;
  };
  if ((await next()) !== "READY") throw new Error("the llama.cpp side did not start");
  return {
    async ask(prompts, run) {
      child.stdin!.write(JSON.stringify({ figure: "P3", run, prompts }) + "\n");
      const line = await next();
      if (!line.startsWith("RESULT ")) throw new Error(`llama.cpp side: ${line}`);
      return JSON.parse(line.slice(7)) as number;
    },
    close: () => child.stdin!.end(),
  };
}

/** 10-token prompts (BOS + 9 one-letter words), different per stream; `ids` keeps their token ids */
const ids: number[][] = [];
async function prompts(url: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const text = Array.from({ length: 9 }, (_, j) => String.fromCharCode(97 + ((i * 3 + j * 7) % 26))).join(" ");
    const toks = (await (await fetch(`${url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: text }) })).json()) as { id: number }[];
    if (toks.length !== 10) throw new Error(`prompt "${text}" has ${toks.length} tokens, not 10`);
    ids.push(toks.map((t) => t.id));
    out.push(text);
  }
  return out;
}

async function one(url: string, inputs: string, adapter: string): Promise<number> {
  const body = JSON.stringify({ inputs, parameters: { adapter_id: adapter, max_new_tokens: NEW, ignore_eos_token: true, details: true } });
  const res = await fetch(`${url}/${args.stream ? "generate_stream" : "generate"}`, { method: "POST", headers: { "content-type": "application/json" }, body });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  if (args.stream) {
    const text = await res.text();
    return text.split("\n\n").filter((e) => e.startsWith("data:")).length;
  }
  return ((await res.json()) as { details: { generated_tokens: number } }).details.generated_tokens;
}

type Row = Record<string, number>;

async function run(side: Side, texts: string[], adapters: string[]): Promise<Row> {
  await side.ask("reset");
  const t0 = performance.now();
  const counts = await Promise.all(texts.map((t, i) => one(side.url, t, adapters[i]!)));
  const wall = performance.now() - t0;
  if (counts.some((c) => c !== NEW)) throw new Error(`expected ${NEW} tokens per stream, got ${counts.join(",")}`);
  const { steps, ms } = await side.ask("get");
  const per = (k: string) => ((ms[k] ?? 0) / steps) * 1000; // µs per step
  const forward = per("forward");
  const onTokenParts = per("sample") + per("detokenize") + per("stop matching") + per("json constraint");
  return {
    "tok/s (8 streams)": (STREAMS * NEW) / (wall / 1000),
    steps,
    "wall per step": (wall / steps) * 1000,
    forward,
    "overhead per step (wall - forward)": (wall / steps) * 1000 - forward,
    schedule: per("schedule"),
    sample: per("sample"),
    detokenize: per("detokenize"),
    "stop matching": per("stop matching"),
    "onToken rest (events, texts)": per("onToken (all)") - onTokenParts,
    "step rest (batch building, logprob rows)": per("step (all)") - forward - per("schedule") - per("onToken (all)"),
    "engine loop outside forward (the rows above)": per("step (all)") - forward,
    "between steps (event delivery, HTTP layer, I/O)": per("between steps"),
    "http writes": per("http writes"),
  };
}

/** one measured run in a fresh worker process (only one worker lives at a time: an idle one's threads would take CPU from the other) */
async function freshRun(label: string, root: string, synth: ReturnType<typeof ensure25m>, adapters: string[], texts: string[] | null): Promise<{ row: Row; texts: string[] }> {
  const side = await startWorker(label, root, synth.base, path.join(synth.root, "adapters"));
  try {
    const t = texts ?? (await prompts(side.url));
    await run(side, t, adapters); // warm-up: adapters resident, JIT
    return { row: await run(side, t, adapters), texts: t };
  } finally {
    const exited = new Promise((r) => side.child.once("exit", r));
    side.child.kill("SIGTERM");
    await exited;
  }
}

async function main(): Promise<void> {
  const synth = ensure25m((l) => process.stderr.write(l + "\n"));
  const adapters = [...synth.adapters.keys()].slice(0, STREAMS);
  const sides = [{ label: args.a ? `A ${args.a}` : "this checkout", root: args.a ? path.resolve(args.a) : ROOT }];
  if (args.ab) sides.push({ label: `B ${args.ab}`, root: path.resolve(args.ab) });
  const llama = args.llama ? await startLlama() : null;
  try {
    let texts: string[] | null = null;
    const rows = new Map<string, Row[]>(sides.map((s) => [s.label, []]));
    const loads: number[] = [];
    const llamaRates: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const order = r % 2 ? [...sides].reverse() : sides;
      for (const s of order) {
        const out = await freshRun(s.label, s.root, synth, adapters, texts);
        texts = out.texts;
        rows.get(s.label)!.push(out.row);
        loads.push(os.loadavg()[0]!);
      }
      if (llama) {
        if (r === 0) await llama.ask(ids, -1); // warm-up
        llamaRates.push(await llama.ask(ids, r));
        loads.push(os.loadavg()[0]!);
      }
      process.stderr.write(`run ${r + 1}/${RUNS}: ${sides.map((s) => `${s.label} ${rows.get(s.label)!.at(-1)!["overhead per step (wall - forward)"]!.toFixed(0)} µs overhead/step`).join(" | ")}${llama ? ` | llama.cpp ${llamaRates.at(-1)!.toFixed(1)} tok/s` : ""}\n`);
    }
    const keys = Object.keys(rows.get(sides[0]!.label)![0]!);
    const lines = [
      `# Per-step cost through ${args.stream ? "POST /generate_stream" : "POST /generate"}: ${STREAMS} streams on ${STREAMS} distinct adapters, 10-token prompts, ${NEW} new tokens`,
      "",
      `machine: ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, node ${process.version}; load average (1 min) during the runs: median ${median(loads).toFixed(1)}, max ${Math.max(...loads).toFixed(1)}; ${RUNS} runs, each in a fresh worker, medians; µs per step unless marked`,
      "",
      `| | ${sides.map((s) => s.label).join(" | ")} |`,
      `|---|${sides.map(() => "---:").join("|")}|`,
      ...keys.map((k) => `| ${k} | ${sides.map((s) => median(rows.get(s.label)!.map((x) => x[k]!)).toFixed(k === "steps" ? 0 : 1)).join(" | ")} |`),
    ];
    if (llama) {
      const l = median(llamaRates);
      lines.push(`| llama.cpp 8 contexts x 8 adapters, tok/s | ${l.toFixed(1)} |`, `| P3 = ours through HTTP ÷ llama.cpp | ${sides.map((sd) => (median(rows.get(sd.label)!.map((x) => x["tok/s (8 streams)"]!)) / l).toFixed(2)).join(" | ")} |`);
    }
    console.log(lines.join("\n"));
    fs.mkdirSync(path.join(ROOT, "bench", "out"), { recursive: true });
    fs.writeFileSync(path.join(ROOT, "bench", "out", `compat-steps${args.stream ? "-stream" : ""}.json`), JSON.stringify(Object.fromEntries(rows), null, 1));
  } finally {
    llama?.close();
  }
}

await main();
