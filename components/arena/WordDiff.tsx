"use client";
/** Word-level differences between two answers (jsdiff's diffWords): A's words struck out, B's underlined. */
import { diffWords } from "diff";
import { useMemo } from "react";

/** `names`: what the two answers are called ("A"/"B" in the arena, the models' names on /compare). */
export function WordDiff({ a, b, names = ["A", "B"], testId = "arena-diff" }: { a: string; b: string; names?: [string, string]; testId?: string }) {
  const parts = useMemo(() => diffWords(a, b), [a, b]);
  const same = parts.every((p) => !p.added && !p.removed);
  return (
    <div data-testid={testId} className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <p className="mb-2 text-xs text-slate-600 dark:text-slate-400">
        {same ? (
          "Both answers are the same, word for word."
        ) : (
          <>
            Word diff from {names[0]} to {names[1]}: <del className="rounded bg-red-100 px-0.5 text-red-900 dark:bg-red-950 dark:text-red-200">only in {names[0]}</del>{" "}
            <ins className="rounded bg-emerald-100 px-0.5 text-emerald-900 no-underline dark:bg-emerald-950 dark:text-emerald-200">only in {names[1]}</ins>
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
