"use client";
import { useQueryErrorResetBoundary } from "@tanstack/react-query";
import { useEffect } from "react";

/**
 * What a refusal the server meant says (the database down: "not reachable right now ... retry in
 * 2 s"), when the page failed on one: a tRPC error other than an internal one, whose message is
 * written for people (server/trpc.ts replaces an internal error's). Null for anything else.
 */
function refusalMessage(error: Error): string | null {
  const code = (error as { data?: { code?: unknown } }).data?.code;
  if (error.name !== "TRPCClientError" || typeof code !== "string" || code === "INTERNAL_SERVER_ERROR") return null;
  return error.message;
}

/** A page that failed to render (e.g. the database is unreachable): say so, offer a retry. */
export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  useEffect(() => {
    console.error(error);
  }, [error]);
  const refusal = refusalMessage(error);
  // the failed queries are asked again on the retry (else the page rethrows their cached error)
  const queries = useQueryErrorResetBoundary();
  return (
    <div role="alert" className="mx-auto max-w-xl space-y-3 py-16 text-center">
      <h1 className="text-2xl font-semibold">{refusal ? "This page cannot be loaded right now" : "Something went wrong"}</h1>
      <p data-testid="page-error-message" className="text-slate-600 dark:text-slate-300">
        {refusal ? `The server says: ${refusal}.` : `This page could not be loaded${error.digest ? ` (error ${error.digest})` : ""}. The server log has the details.`}
      </p>
      <button
        type="button"
        onClick={() => {
          queries.reset();
          reset();
        }}
        className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700">
        Try again
      </button>
    </div>
  );
}
