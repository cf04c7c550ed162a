"use client";
import { useEffect } from "react";

/** A page that failed to render (e.g. the database is unreachable): say so, offer a retry. */
export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  useEffect(() => {
    console.error(error);
  }, [error]);
  return (
    <div role="alert" className="mx-auto max-w-xl space-y-3 py-16 text-center">
      <h1 className="text-2xl font-semibold">Something went wrong</h1>
      <p className="text-slate-600 dark:text-slate-300">
        This page could not be loaded{error.digest ? ` (error ${error.digest})` : ""}. The server log has the details.
      </p>
      <button type="button" onClick={reset} className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700">
        Try again
      </button>
    </div>
  );
}
