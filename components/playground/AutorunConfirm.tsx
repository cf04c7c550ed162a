"use client";
/**
 * A link with `autorun=1` (share "Run again", copied links) asks before it runs: a page that
 * anyone can link to must not spend the visitor's generations, or start work, without a click.
 */
export function AutorunConfirm({ models, onRun, onDismiss }: { models: number; onRun: () => void; onDismiss: () => void }) {
  return (
    <div role="alertdialog" aria-labelledby="autorun-title" className="flex flex-wrap items-center gap-3 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100" data-testid="autorun-confirm">
      <span id="autorun-title">
        This link asks to run its prompt on {models === 1 ? "the model" : `${models} models`} below. Check the prompt, then run it.
      </span>
      <span className="ml-auto flex gap-2">
        <button type="button" className="rounded bg-brand-600 px-3 py-1 text-white" onClick={onRun} data-testid="autorun-run">
          Run
        </button>
        <button type="button" className="rounded border border-amber-400 px-3 py-1 dark:border-amber-700" onClick={onDismiss} data-testid="autorun-dismiss">
          Not now
        </button>
      </span>
    </div>
  );
}
