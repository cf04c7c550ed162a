"use client";
/** Word-level differences between two answers (jsdiff's diffWords): A's words struck out, B's underlined. */
import { diffWords } from "diff";
import { useMemo } from "react";

export function WordDiff({ a, b }: { a: string; b: string }) {
  const parts = useMemo(() => diffWords(a, b), [a, b]);
  const same = parts.every((p) => !p.added && !p.removed);
  return (
    <div data-testid="arena-diff" className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <p className="mb-2 text-xs text-slate-600 dark:text-slate-400">
        {same ? (
          "Both answers are the same, word for word."
        ) : (
          <>
            Word diff from A to B: <del className="rounded bg-red-100 px-0.5 text-red-900 dark:bg-red-950 dark:text-red-200">only in A</del>{" "}
            <ins className="rounded bg-emerald-100 px-0.5 text-emerald-900 no-underline dark:bg-emerald-950 dark:text-emerald-200">only in B</ins>
          </>
        )}
      </p>
      <p className="whitespace-pre-wrap break-words font-mono text-sm leading-6">
        {parts.map((p, i) =>
          p.removed ? (
            <del key={i} data-testid="diff-removed" className="rounded bg-red-100 px-0.5 text-red-900 dark:bg-red-950 dark:text-red-200">
              {p.value}
            </del>
          ) : p.added ? (
            <ins key={i} data-testid="diff-added" className="rounded bg-emerald-100 px-0.5 text-emerald-900 no-underline dark:bg-emerald-950 dark:text-emerald-200">
              {p.value}
            </ins>
          ) : (
            <span key={i}>{p.value}</span>
          ),
        )}
      </p>
    </div>
  );
}
