"use client";
/** /chats: the whole history, grouped by date, searchable; "Clear all" deletes it (after a confirm). */
import { useMutation, useQueryClient, useSuspenseQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";
import { friendlyError } from "./errors";
import { HistoryList } from "./HistorySidebar";

export function ChatsIndex() {
  const [search, setSearch] = useState("");
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // the page prefetches this list: suspending on it makes the server's HTML and the hydrating render
  // both the list (with useQuery the server could render "Loading…" while the browser, its data
  // already streamed in, rendered the list: React #418)
  const { data } = useSuspenseQuery(trpc.chats.list.queryOptions({}));
  const clear = useMutation(trpc.chats.clear.mutationOptions({ onSuccess: () => queryClient.invalidateQueries(trpc.chats.pathFilter()) }));
  const count = data?.length ?? 0;
  return (
    <div className="mx-auto flex max-w-3xl flex-col gap-4">
      <div className="flex flex-wrap items-center gap-2">
        <h1 className="text-xl font-semibold">History</h1>
        {count > 0 && (
          <button
            type="button"
            data-testid="history-clear"
            disabled={clear.isPending}
            onClick={() => {
              if (window.confirm(`Delete all ${count >= 200 ? "your" : count} chats and their outputs? This cannot be undone.`)) clear.mutate({ confirm: true });
            }}
            className="ml-auto rounded px-2 py-1 text-sm text-red-700 hover:bg-red-50 disabled:opacity-50 dark:text-red-300 dark:hover:bg-red-950"
          >
            Clear all
          </button>
        )}
      </div>
      <p className="text-sm text-slate-600 dark:text-slate-400">Every run, comparison and chat of this browser (kept on this server, tied to an anonymous cookie).</p>
      {clear.error && <p role="alert" className="text-sm text-red-600">Clearing failed: {friendlyError(clear.error)}</p>}
      <input
        type="search"
        data-testid="history-search"
        aria-label="Search history"
        placeholder="Search titles, prompts and outputs"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
        className="rounded border border-slate-300 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-900"
      />
      <HistoryList search={search} />
    </div>
  );
}
