/**
 * Client state of a run's panes, folded from the subscription's chunks. Pure, so the same reducer
 * renders a live stream, a resumed one, and a stored generation.
 */
import type { PaneStats, RunChunk } from "../../server/inference/stream-hub";

export type PaneStatus = "idle" | "queued" | "streaming" | "done" | "error" | "stopped" | "interrupted";

export interface TokenView {
  id: number;
  text: string;
  logprob: number | null;
  special: boolean;
  alternatives?: { id: number; text: string; logprob: number }[];
}

export interface PaneView {
  adapterId: string | null;
  status: PaneStatus;
  text: string;
  tokens: TokenView[];
  stats: PaneStats | null;
  error: string | null;
  errorStatus: number | null;
  finishReason: string | null;
  /** generation id in history, once started */
  generationId: string | null;
}

export function emptyPane(adapterId: string | null): PaneView {
  return { adapterId, status: "idle", text: "", tokens: [], stats: null, error: null, errorStatus: null, finishReason: null, generationId: null };
}

/** A pane about to run on `adapterId`, before any of its chunks. */
export function queuedPane(adapterId: string | null): PaneView {
  return { ...emptyPane(adapterId), status: "queued" };
}

/** Applies one chunk to the pane it names (`offset` maps a run's pane 0 to a grid position). */
export function applyChunk(panes: PaneView[], chunk: RunChunk, offset = 0): PaneView[] {
  const i = chunk.pane + offset;
  const p = panes[i];
  if (!p) return panes;
  let next: PaneView;
  switch (chunk.kind) {
    case "status":
      // the same status again (a run's first "queued"): the same array, so React skips a render
      if (p.status === chunk.status) return panes;
      next = { ...p, status: chunk.status };
      break;
    case "token": {
      const { pane: _pane, kind: _kind, at: _at, ...token } = chunk;
      next = { ...p, status: "streaming", tokens: [...p.tokens, token], text: chunk.special ? p.text : p.text + chunk.text };
      break;
    }
    case "stats":
      next = { ...p, stats: chunk.stats };
      break;
    case "end":
      next = {
        ...p,
        status: chunk.status,
        text: chunk.output,
        stats: chunk.stats,
        error: chunk.error,
        errorStatus: chunk.errorStatus,
        finishReason: chunk.finishReason,
      };
      break;
  }
  const out = panes.slice();
  out[i] = next;
  return out;
}

/** Live tokens/s of a streaming pane (stats only arrive at the first token and at the end). */
export function liveTokensPerSecond(p: PaneView, startedAt: number | null, nowMs: number): number | null {
  if (p.stats?.tokensPerSecond != null && p.status !== "streaming") return p.stats.tokensPerSecond;
  if (p.status !== "streaming" || startedAt === null || p.stats?.ttftMs == null) return p.stats?.tokensPerSecond ?? null;
  const decodeMs = nowMs - startedAt - p.stats.ttftMs;
  return decodeMs >= 100 && p.tokens.length > 1 ? ((p.tokens.length - 1) * 1000) / decodeMs : null;
}

export const isRunning = (s: PaneStatus) => s === "queued" || s === "streaming";
