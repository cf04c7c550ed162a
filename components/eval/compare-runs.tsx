"use client";
/**
 * Two runs of this adapter side by side: pick run A and run B, see the score difference (B − A on
 * the rows both scored, with its paired 95% bootstrap interval), how many examples went wrong →
 * right and right → wrong, and those examples with both predictions.
 */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";
import { Interval } from "./interval";

interface RunChoice {
  id: number;
  run: { id: number; status: string };
  n: number;
  score: number;
}

const signed = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v * 100).toFixed(1)}`;

export function CompareRuns({ results }: { results: RunChoice[] }) {
  const trpc = useTRPC();
  // default: the newest run (B) against the one before (A), until the user picks (results arrive after mount too)
  const [pickedA, setA] = useState<number | null>(null);
  const [pickedB, setB] = useState<number | null>(null);
  const a = pickedA ?? results[1]?.id ?? null;
  const b = pickedB ?? results[0]?.id ?? null;
  const ready = a !== null && b !== null && a !== b;
  const { data, error, isFetching } = useQuery({ ...trpc.eval.compare.queryOptions({ a: a ?? 1, b: b ?? 1 }), enabled: ready });
  if (results.length < 2) return null;
  const label = (r: RunChoice) => `run #${r.run.id} · n=${r.n} · ${(r.score * 100).toFixed(1)}%${r.run.status === "cancelled" ? " · cancelled" : ""}`;
  const select = (value: number | null, set: (v: number) => void, name: string, testId: string) => (
    <label className="flex min-w-0 flex-col gap-1 text-xs">
      <span className="font-medium text-slate-600 dark:text-slate-400">{name}</span>
      <select className="min-w-0 rounded-md border border-slate-300 bg-transparent px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-900" value={value ?? ""} onChange={(e) => set(Number(e.target.value))} data-testid={testId}>
        {results.map((r) => (
          <option key={r.id} value={r.id}>
            {label(r)}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section aria-labelledby="compare-heading" className="space-y-3" data-testid="eval-compare">
      <h2 id="compare-heading" className="text-lg font-medium">
        Compare two runs
      </h2>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        {select(a, setA, "Run A", "compare-a")}
        {select(b, setB, "Run B", "compare-b")}
      </div>
      {!ready && <p className="text-sm text-slate-500">Pick two different runs.</p>}
      {error && (
        <p role="alert" className="text-sm text-red-600">
          {error.message}
        </p>
      )}
      {ready && data && (
        <div className={`space-y-3 ${isFetching ? "opacity-60" : ""}`}>
          <p className="flex flex-wrap items-baseline gap-x-4 gap-y-1 text-sm" data-testid="compare-summary">
            <span>
              B − A:{" "}
              <strong className="font-mono tabular-nums" data-testid="compare-delta">
                {data.delta ? `${signed(data.delta.mean)} pts` : "–"}
              </strong>{" "}
              <Interval ci={data.delta} />
            </span>
            <span className="text-slate-500">on the {data.common} examples both scored</span>
            <span className="text-emerald-700 dark:text-emerald-400" data-testid="compare-fixed">
              {data.fixed} wrong → right
            </span>
            <span className="text-red-700 dark:text-red-400" data-testid="compare-broke">
              {data.broke} right → wrong
            </span>
          </p>
          {data.rows.length > 0 ? (
            <div className="overflow-x-auto">
              <table className="w-full min-w-[40rem] table-fixed border-collapse text-sm">
                <thead>
                  <tr className="border-b border-slate-200 text-left text-slate-500 dark:border-slate-800">
                    <th className="w-12 py-2 pr-2">#</th>
                    <th className="py-2 pr-2">Reference</th>
                    <th className="py-2 pr-2">Run A</th>
                    <th className="py-2 pr-2">Run B</th>
                  </tr>
                </thead>
                <tbody>
                  {data.rows.map((r) => (
                    <tr key={r.rowIndex} className="border-b border-slate-100 align-top dark:border-slate-900" data-testid="compare-row" data-change={r.change}>
                      <td className="py-2 pr-2 font-mono text-xs text-slate-500">{r.rowIndex}</td>
                      <td className="break-words py-2 pr-2 font-mono text-xs">{r.reference}</td>
                      {([r.a, r.b] as const).map((x, i) => (
                        <td key={i} className="break-words py-2 pr-2 font-mono text-xs">
                          <span className={x.correct ? "text-emerald-600" : "text-red-600"} aria-label={x.correct ? "right" : "wrong"}>
                            {x.correct ? "✓" : "✗"}
                          </span>{" "}
                          {x.prediction || <em className="text-slate-500">(empty)</em>}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <p className="text-sm text-slate-500" data-testid="compare-none">
              No example changed between the two runs.
            </p>
          )}
        </div>
      )}
    </section>
  );
}
