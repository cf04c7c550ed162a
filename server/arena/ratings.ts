/**
 * Arena ratings: a Bradley–Terry model fitted to every vote of a task (order-independent, unlike
 * online Elo), on the Elo scale as LMSYS Chatbot Arena reports it. A tie and "both bad" count as
 * half a win each. Every model also plays one virtual tie against an anchor of strength 1 (rating
 * 1000): a prior that keeps an unbeaten model finite and pulls models with few votes towards 1000.
 *
 * Fit: Hunter's MM iteration (2004) for the maximum-likelihood strengths p,
 *   p_i ← W_i / Σ_j n_ij / (p_i + p_j)
 * where W_i is i's wins (virtual half-win included) and n_ij the games of i against j (the anchor
 * is one of the j, fixed at 1). Rating = 1000 + 400 · log10(p_i).
 */

export type Outcome = "a" | "b" | "tie" | "both_bad";

export interface Game {
  a: string;
  b: string;
  outcome: Outcome;
}

export interface Standing {
  model: string;
  rating: number;
  games: number;
  wins: number;
  losses: number;
  ties: number;
  bothBad: number;
}

export const ANCHOR_RATING = 1000;
const MAX_ITERATIONS = 10_000;
const TOLERANCE = 1e-10;

/** Standings of `models` (and of anyone else in `games`), best first. */
export function bradleyTerry(games: Game[], models: string[] = []): Standing[] {
  const names = [...new Set([...models, ...games.flatMap((g) => [g.a, g.b])])];
  const at = new Map(names.map((m, i) => [m, i]));
  const k = names.length;
  const rows: Standing[] = names.map((model) => ({ model, rating: ANCHOR_RATING, games: 0, wins: 0, losses: 0, ties: 0, bothBad: 0 }));
  // n[i*k+j]: games between i and j; w[i]: wins with ties as halves, plus the virtual half-win
  const n = new Float64Array(k * k);
  const w = new Float64Array(k).fill(0.5);
  for (const g of games) {
    if (g.a === g.b) continue; // a model against itself says nothing
    const i = at.get(g.a)!;
    const j = at.get(g.b)!;
    n[i * k + j]! += 1;
    n[j * k + i]! += 1;
    rows[i]!.games++;
    rows[j]!.games++;
    if (g.outcome === "a") {
      w[i]! += 1;
      rows[i]!.wins++;
      rows[j]!.losses++;
    } else if (g.outcome === "b") {
      w[j]! += 1;
      rows[j]!.wins++;
      rows[i]!.losses++;
    } else {
      w[i]! += 0.5;
      w[j]! += 0.5;
      const field = g.outcome === "tie" ? "ties" : "bothBad";
      rows[i]![field]++;
      rows[j]![field]++;
    }
  }
  const p = fitStrengths(n, w, k);
  rows.forEach((r, i) => (r.rating = ANCHOR_RATING + 400 * Math.log10(p[i]!)));
  return rows.sort((x, y) => y.rating - x.rating || y.games - x.games || x.model.localeCompare(y.model));
}

/** MM iteration; `n` is k×k games, `w` wins (each model also has one game against the anchor, p = 1). */
export function fitStrengths(n: Float64Array, w: Float64Array, k: number): Float64Array {
  let p = new Float64Array(k).fill(1);
  for (let it = 0; it < MAX_ITERATIONS; it++) {
    const next = new Float64Array(k);
    let change = 0;
    for (let i = 0; i < k; i++) {
      let denom = 1 / (p[i]! + 1); // the virtual game against the anchor
      for (let j = 0; j < k; j++) if (j !== i && n[i * k + j]! > 0) denom += n[i * k + j]! / (p[i]! + p[j]!);
      next[i] = w[i]! / denom;
      change = Math.max(change, Math.abs(Math.log(next[i]!) - Math.log(p[i]!)));
    }
    p = next;
    if (change < TOLERANCE) break;
  }
  return p;
}

/** The model's chance to beat another under the fitted ratings. */
export function winProbability(ratingA: number, ratingB: number): number {
  return 1 / (1 + 10 ** ((ratingB - ratingA) / 400));
}
