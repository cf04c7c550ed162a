import Link from "next/link";

/** "Trained here": the adapter was made by a /train run of this server; links to that run. */
export function TrainedHereBadge({ runId }: { runId: number }) {
  return (
    <Link
      href={`/train?run=${runId}`}
      title={`Trained on this server by training run #${runId}`}
      className="inline-flex items-center gap-1 whitespace-nowrap rounded-full bg-violet-50 px-2 py-0.5 text-xs font-medium text-violet-800 ring-1 ring-inset ring-violet-200 hover:underline dark:bg-violet-950 dark:text-violet-200 dark:ring-violet-800"
      data-testid="trained-here"
      data-run-id={runId}
    >
      <span aria-hidden>⚙</span> Trained here
    </Link>
  );
}
