"use client";
/** /chats: the whole history, grouped by date, searchable. */
import { useState } from "react";
import { HistoryList } from "./HistorySidebar";

export function ChatsIndex() {
  const [search, setSearch] = useState("");
  return (
    <div className="mx-auto flex max-w-3xl flex-col gap-4">
      <h1 className="text-xl font-semibold">History</h1>
      <p className="text-sm text-slate-600 dark:text-slate-400">Every run, comparison and chat of this browser (kept on this server, tied to an anonymous cookie).</p>
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
