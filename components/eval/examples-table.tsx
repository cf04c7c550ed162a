"use client";
/** A result's test examples, page by page: inputs, reference, fine-tuned and base predictions, right or wrong. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

const PAGE = 10;

function Verdict({ correct, score, metric }: { correct: boolean | null; score: number | null; metric: string }) {
  if (correct === null) return <span className="text-slate-500">–</span>;
  return (
    <span className={correct ? "text-emerald-600" : "text-red-600"} aria-label={correct ? "right" : "wrong"}>
      {correct ? "✓" : "✗"}
      {metric === "rouge_l" && score !== null && <span className="ml-1 font-mono text-xs">{score.toFixed(2)}</span>}
    </span>
  );
}

export function ExamplesTable({ resultId, metric }: { resultId: number; metric: string }) {
  const trpc = useTRPC();
  const [filter, setFilter] = useState<"all" | "right" | "wrong">("all");
  const [offset, setOffset] = useState(0);
  const { data, isLoading } = useQuery({ ...trpc.eval.examples.queryOptions({ resultId, filter, offset, limit: PAGE }), placeholderData: keepPreviousData });

  return (
    <section aria-labelledby="examples-heading" className="space-y-3" data-testid="eval-examples">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h2 id="examples-heading" className="text-lg font-medium">
          Examples
        </h2>
        <div role="group" aria-label="Filter examples" className="flex gap-1 text-sm">
          {(["all", "right", "wrong"] as const).map((f) => (
            <button
              key={f}
              type="button"
              aria-pressed={filter === f}
              onClick={() => (setFilter(f), setOffset(0))}
              className={`rounded-md px-3 py-1 ${filter === f ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900" : "border border-slate-300 dark:border-slate-700"}`}
              data-testid={`filter-${f}`}
            >
              {f === "all" ? "All" : f === "right" ? "Right" : "Wrong"}
            </button>
          ))}
        </div>
      </div>
      {isLoading && <p className="text-sm text-slate-500">Loading…</p>}
      {data && (
        <>
          <div className="overflow-x-auto">
            <table className="w-full min-w-[48rem] table-fixed border-collapse text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-slate-500 dark:border-slate-800">
                  <th className="w-12 py-2 pr-2">#</th>
                  <th className="py-2 pr-2">Input</th>
                  <th className="py-2 pr-2">Reference</th>
                  <th className="py-2 pr-2">Fine-tuned</th>
                  <th className="py-2 pr-2">Base</th>
                </tr>
              </thead>
              <tbody>
                {data.rows.map((e) => (
                  <tr key={e.id} className="border-b border-slate-100 align-top dark:border-slate-900" data-testid="eval-example" data-correct={e.correct ? "true" : "false"}>
                    <td className="py-2 pr-2 font-mono text-xs text-slate-500">{e.rowIndex}</td>
                    <td className="py-2 pr-2">
                      <dl className="space-y-1">
                        {Object.entries(e.inputs).map(([k, v]) => (
                          <div key={k}>
                            <dt className="inline font-mono text-xs text-slate-500">{k}: </dt>
                            <dd className="inline break-words" title={v}>
                              {v.length > 240 ? `${v.slice(0, 240)}…` : v}
                            </dd>
                          </div>
                        ))}
                      </dl>
                    </td>
                    <td className="break-words py-2 pr-2 font-mono text-xs">{e.reference}</td>
                    <td className="break-words py-2 pr-2 font-mono text-xs" data-testid="eval-prediction">
                      <Verdict correct={e.correct} score={e.score} metric={metric} />{" "}
                      <span data-testid="eval-prediction-text">{e.prediction || <em className="text-slate-500">(empty)</em>}</span>
                      <div className="text-[10px] text-slate-500">{Math.round(e.latencyMs)} ms</div>
                    </td>
                    <td className="break-words py-2 pr-2 font-mono text-xs" data-testid="eval-base-prediction">
                      <Verdict correct={e.baseCorrect} score={e.baseScore} metric={metric} /> {e.basePrediction ?? "–"}
                      {e.baseLatencyMs !== null && <div className="text-[10px] text-slate-500">{Math.round(e.baseLatencyMs)} ms</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav aria-label="Example pages" className="flex items-center justify-between text-sm">
            <span className="text-slate-500" data-testid="eval-examples-range">
              {data.total === 0 ? "none" : `${offset + 1}–${Math.min(offset + PAGE, data.total)} of ${data.total}`}
            </span>
            <span className="flex gap-2">
              <button type="button" className="rounded-md border border-slate-300 px-3 py-1 disabled:opacity-40 dark:border-slate-700" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                Previous
              </button>
              <button type="button" className="rounded-md border border-slate-300 px-3 py-1 disabled:opacity-40 dark:border-slate-700" disabled={offset + PAGE >= data.total} onClick={() => setOffset(offset + PAGE)} data-testid="eval-next">
                Next
              </button>
            </span>
          </nav>
        </>
      )}
    </section>
  );
}
