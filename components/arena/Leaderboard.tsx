"use client";
/** A task's arena standings: Bradley–Terry ratings on the Elo scale, with each model's record. */
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";

export function Leaderboard({ task, taskName }: { task: string; taskName: string }) {
  const trpc = useTRPC();
  const board = useQuery(trpc.arena.leaderboard.queryOptions({ task }));
  const rows = board.data?.standings ?? [];
  return (
    <section aria-labelledby="leaderboard-title" className="flex min-w-0 flex-col gap-2" data-testid="arena-leaderboard" data-votes={board.data?.votes ?? ""}>
      <h2 id="leaderboard-title" className="text-lg font-semibold">
        Leaderboard · {taskName}
      </h2>
      <p className="text-xs text-slate-600 dark:text-slate-400">
        Bradley–Terry ratings on the Elo scale from{" "}
        <span data-testid="leaderboard-votes">{board.data ? `${board.data.votes} vote${board.data.votes === 1 ? "" : "s"}` : "…"}</span>; everyone starts at 1000, a tie
        or &ldquo;both bad&rdquo; counts half a win each.
      </p>
      <div className="overflow-x-auto">
        <table className="w-full text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-left text-xs text-slate-600 dark:border-slate-800 dark:text-slate-400">
              <th scope="col" className="py-1 pr-2 font-medium">#</th>
              <th scope="col" className="py-1 pr-2 font-medium">Model</th>
              <th scope="col" className="py-1 pr-2 text-right font-medium">Rating</th>
              <th scope="col" className="py-1 text-right font-medium">
                <abbr title="wins – losses – ties (both bad)">W–L–T</abbr>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={r.model} data-testid="leaderboard-row" data-model={r.model} data-games={r.games} className="border-b border-slate-100 last:border-0 dark:border-slate-900">
                <td className="py-1.5 pr-2 font-mono text-slate-500">{i + 1}</td>
                <td className="py-1.5 pr-2 break-words">{r.label}</td>
                <td className="py-1.5 pr-2 text-right font-mono" data-testid="leaderboard-rating">
                  {Math.round(r.rating)}
                </td>
                <td className="py-1.5 text-right font-mono whitespace-nowrap text-slate-600 dark:text-slate-300">
                  {r.wins}–{r.losses}–{r.ties + r.bothBad}
                  {r.bothBad > 0 && <span className="text-xs text-slate-500"> ({r.bothBad})</span>}
                </td>
              </tr>
            ))}
            {board.isPending && (
              <tr>
                <td colSpan={4} className="py-2 text-slate-500">Loading…</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
