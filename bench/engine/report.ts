/** The benchmark's Markdown table (and the P4 chart) from both sides' results. */
import { SETTINGS } from "./common";

export interface Results {
  machine: string;
  runs: number;
  quick: boolean;
  threads: number;
  ours: Record<string, unknown>;
  llama: Record<string, unknown>;
  llamaAvailable: boolean;
  cpuPressureStart?: number | null;
  cpuPressureEnd?: number | null;
}

interface Rate { tokPerS: number; runs: number[] }
interface P2 { base: number; hetero: number; ratio: number }
interface P4Row { adapters: number; tokPerS: number }
interface P5 {
  adapterBytes: number; ttftColdMs: number; ttftWarmMs: number; coldMinusWarmMs: number; mbPerS: number;
  p99GapQuietMs: number; p99GapLoadMs: number;
}
interface P7 {
  registered: number; hot: number; rssBaseMB: number; rssRegisteredMB: number; rssHotMB: number;
  weightsMB: number; hotAdaptersMB: number; kvBudgetMB: number; rssStartMB: number;
}

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(1));
const f0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(0));
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(2));
const mark = (ok: boolean | null) => (ok === null ? "—" : ok ? "yes" : "no");
const spread = (r?: Rate) => (r && r.runs.length > 1 ? ` (${f1(Math.min(...r.runs))}–${f1(Math.max(...r.runs))})` : "");

export function renderMarkdown(r: Results, seconds: number): string {
  const o = r.ours as Record<string, never>;
  const l = r.llama as Record<string, never>;
  const rows: string[] = [];
  const row = (...cells: string[]) => rows.push(`| ${cells.join(" | ")} |`);
  const S = SETTINGS.streams;
  const streamNew = r.quick ? S.quickNewTokens : S.newTokens;

  const p1o = o.P1 as Rate | undefined, p1l = l.P1 as Rate | undefined;
  if (p1o || p1l) {
    const ratio = p1o && p1l ? p1o.tokPerS / p1l.tokPerS : NaN;
    row("P1", `single-stream decode tok/s (${SETTINGS.p1.prompt} prompt + ${SETTINGS.p1.newTokens} new, greedy, ${r.threads} threads)`,
      `${f1(p1o?.tokPerS)}${spread(p1o)}`, `${f1(p1l?.tokPerS)}${spread(p1l)}`, `${f2(ratio)}x`, "≥ 1.0x", mark(Number.isFinite(ratio) ? ratio >= 1 : null));
  }
  const p1t1 = l.P1t1 as Rate | undefined;
  if (p1t1) {
    const ratio = p1o ? p1o.tokPerS / p1t1.tokPerS : NaN;
    row("(P1)", "for scale: llama.cpp with 1 thread (no spinning thread barrier to stall on a busy machine)", "—", `${f1(p1t1.tokPerS)}${spread(p1t1)}`, `${f2(ratio)}x`, "—", "—");
  }
  const p2 = o.P2 as P2 | undefined;
  if (p2) {
    row("P2", `8 streams on 8 distinct r=8 q/v adapters ÷ 8 streams on the base (aggregate tok/s, ${S.prompt} prompt + ${streamNew} new)`,
      `${f1(p2.hetero)} ÷ ${f1(p2.base)}`, "—", f2(p2.ratio), "≥ 0.90", mark(p2.ratio >= 0.9));
  }
  const p3o = o.P3 as Rate | undefined, p3l = l.P3 as Rate | undefined;
  if (p3o || p3l) {
    const ratio = p3o && p3l ? p3o.tokPerS / p3l.tokPerS : NaN;
    row("P3", "8 streams on 8 distinct adapters, aggregate tok/s (llama.cpp: one context per adapter, run concurrently)",
      `${f1(p3o?.tokPerS)}${spread(p3o)}`, `${f1(p3l?.tokPerS)}${spread(p3l)}`, `${f2(ratio)}x`, "≥ 4x", mark(Number.isFinite(ratio) ? ratio >= 4 : null));
  }
  const base8 = l.base8 as Rate | undefined;
  if (base8) {
    row("(P3)", "for scale: llama.cpp 8 streams on the base in one context (batched)", "—", `${f1(base8.tokPerS)}${spread(base8)}`, "—", "—", "—");
  }
  const p4 = o.P4 as P4Row[] | undefined;
  if (p4) {
    const rates = p4.map((x) => x.tokPerS);
    const flat = Math.min(...rates) / Math.max(...rates);
    row("P4", "aggregate tok/s at 32 streams for 1 / 2 / 4 / 8 / 16 / 32 distinct adapters",
      p4.map((x) => f0(x.tokPerS)).join(" / "), "—", `min÷max ${f2(flat)}`, "flat within 10%", mark(flat >= 0.9));
  }
  const p5 = o.P5 as P5 | undefined;
  if (p5) {
    const rise = p5.p99GapLoadMs / p5.p99GapQuietMs;
    row("P5", `cold load of an r=64 all-projection adapter (${f1(p5.adapterBytes / 1e6)} MB): TTFT not resident − resident; load MB/s; running streams' p99 inter-token ms quiet → during load`,
      `${f1(p5.coldMinusWarmMs)} ms (${f1(p5.ttftColdMs)} − ${f1(p5.ttftWarmMs)}); ${f0(p5.mbPerS)} MB/s; p99 ${f1(p5.p99GapQuietMs)} → ${f1(p5.p99GapLoadMs)} ms (${f2(rise)}x)`,
      "—", "—", "≤ 50 ms, p99 ≤ 2x", mark(p5.coldMinusWarmMs <= 50 && rise <= 2));
  }
  const p6o = o.P6 as Rate | undefined, p6l = l.P6 as Rate | undefined;
  if (p6o || p6l) {
    const ratio = p6o && p6l ? p6o.tokPerS / p6l.tokPerS : NaN;
    row("P6", `prefill prompt tok/s (${SETTINGS.p6.prompt}-token prompt, time to first token)`,
      `${f0(p6o?.tokPerS)}${spread(p6o)}`, `${f0(p6l?.tokPerS)}${spread(p6l)}`, `${f2(ratio)}x`, "≥ 1.0x", mark(Number.isFinite(ratio) ? ratio >= 1 : null));
  }
  const p7 = o.P7 as P7 | undefined;
  if (p7) {
    const perRegistered = p7.rssRegisteredMB - p7.rssBaseMB;
    row("P7", `resident set (MiB): loaded + warm → ${p7.registered} adapters registered → ${p7.hot} hot (weights ${f0(p7.weightsMB)}, ${p7.hot} adapters ${f1(p7.hotAdaptersMB)}, KV budget ${f0(p7.kvBudgetMB)})`,
      `${f0(p7.rssBaseMB)} → ${f0(p7.rssRegisteredMB)} (+${f1(perRegistered)}) → ${f0(p7.rssHotMB)}`, "—", "—",
      "nothing per registered adapter beyond metadata", mark(perRegistered < 0.05 * p7.registered + 8));
  }

  const lines = [
    "## Engine benchmark (`npm run bench:engine`)",
    "",
    `Machine: ${r.machine}. ${r.quick ? "Quick mode, " : ""}median of ${r.runs} runs (range in parentheses); both sides in one invocation, their runs interleaved figure by figure. ` +
      "Shared, noisy machine: compare the ratios." +
      (r.cpuPressureStart != null ? ` CPU pressure (PSI some avg60, % of time runnable tasks waited for a CPU) ${f0(r.cpuPressureStart)}% at start, ${f0(r.cpuPressureEnd ?? NaN)}% at end.` : ""),
    "",
    "Model: synthetic Mistral-shaped fp32 (hidden 512, 8 layers, 8 heads / 2 KV heads, FFN 1536, vocab 32000, ~57M parameters), " +
      "r=8 q/v adapters (LoRA Land config); llama.cpp = node-llama-cpp 3.21.1 prebuilt CPU binary on the same weights exported to GGUF by bench/engine/gguf-export.ts. " +
      `${r.threads} threads each.`,
    "",
    "| id | figure | ours | llama.cpp | ratio | goal | met |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ];
  const prof = r.ours.profile as Record<string, { wallMs: number; shares: Record<string, number> }> | undefined;
  if (prof) {
    lines.push("Where our time goes (native ops timed one by one; \"other\" = the engine's TypeScript and waits):", "");
    for (const [label, p] of Object.entries(prof)) {
      lines.push(`- ${label}: ${Object.entries(p.shares).filter(([, v]) => v >= 0.005).map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`).join(", ")}`);
    }
    lines.push("");
  }
  const check = checkLine(r);
  if (check) lines.push(check, "");
  lines.push(`(${seconds.toFixed(0)} s in all)`, "");
  return lines.join("\n");
}

/** Greedy agreement of both engines on the same prompts (base and two adapters). */
function checkLine(r: Results): string | null {
  const a = r.ours.check as Record<string, number[][]> | undefined;
  const b = r.llama.check as Record<string, number[][]> | undefined;
  if (!a || !b) return null;
  const parts: string[] = [];
  for (const name of Object.keys(b)) {
    if (!a[name]) continue;
    const same = a[name].filter((ids, i) => JSON.stringify(ids) === JSON.stringify(b[name][i])).length;
    const firstDiff = a[name].map((ids, i) => {
      const j = ids.findIndex((x, k) => x !== b[name][i][k]);
      return j < 0 ? null : j;
    }).filter((x) => x !== null);
    parts.push(`${name} ${same}/${a[name].length}${firstDiff.length ? ` (first difference at token ${firstDiff.join(", ")})` : ""}`);
  }
  return `Greedy tokens identical to llama.cpp (24 new tokens, 3 prompts each): ${parts.join("; ")}.`;
}

export function renderP4Svg(rows: P4Row[]): string {
  const W = 640, H = 360, L = 60, B = 50, T = 30, R = 20;
  const max = Math.max(...rows.map((x) => x.tokPerS)) * 1.15;
  const bw = (W - L - R) / rows.length;
  const y = (v: number) => H - B - (v / max) * (H - B - T);
  const bars = rows.map((x, i) => {
    const x0 = L + i * bw + bw * 0.15;
    return `<rect x="${x0}" y="${y(x.tokPerS)}" width="${bw * 0.7}" height="${H - B - y(x.tokPerS)}" fill="#4f46e5"/>` +
      `<text x="${x0 + bw * 0.35}" y="${y(x.tokPerS) - 5}" text-anchor="middle" font-size="12">${x.tokPerS.toFixed(0)}</text>` +
      `<text x="${x0 + bw * 0.35}" y="${H - B + 18}" text-anchor="middle" font-size="12">${x.adapters}</text>`;
  }).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">P4: aggregate tokens/s, 32 streams, by number of distinct adapters</text>` +
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>` +
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">distinct adapters</text>` +
    `<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle" font-size="12">tokens/s</text>` +
    `${bars}</svg>`;
}
