"use client";
/** Recent chats of this browser's owner, grouped by date, with search. */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useDeferredValue, useState } from "react";
import { useTRPC } from "@/trpc/react";
import { dateGroup } from "./export";
import { friendlyError } from "./errors";

export function HistoryList({ activeId, search, limit }: { activeId?: string | null; search: string; limit?: number }) {
  const trpc = useTRPC();
  const deferred = useDeferredValue(search);
  const { data, isLoading, error } = useQuery({ ...trpc.chats.list.queryOptions({ search: deferred || undefined }), refetchInterval: 10_000 });
  if (error) return <p className="text-xs text-red-600">{friendlyError(error)}</p>;
  if (isLoading) return <p className="text-xs text-slate-500">Loading…</p>;
  const items = (data ?? []).slice(0, limit);
  if (items.length === 0) return <p className="text-xs text-slate-500" data-testid="history-empty">{deferred ? "Nothing matches." : "Nothing yet: your runs appear here."}</p>;
  const groups = new Map<string, typeof items>();
  for (const c of items) {
    const g = dateGroup(new Date(c.updatedAt));
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  return (
    <div className="flex flex-col gap-3" data-testid="history-list">
      {[...groups].map(([group, chats]) => (
        <section key={group}>
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">{group}</h3>
          <ul className="flex flex-col gap-0.5">
            {chats.map((c) => (
              <li key={c.id}>
                <Link
                  href={`/chats/${c.id}`}
                  data-testid="history-item"
                  aria-current={c.id === activeId ? "page" : undefined}
                  className={`block truncate rounded px-2 py-1 text-sm hover:bg-slate-100 dark:hover:bg-slate-800 ${c.id === activeId ? "bg-slate-100 font-medium dark:bg-slate-800" : ""}`}
                  title={c.title}
                >
                  <span className="mr-1 text-xs text-slate-400">{c.kind === "compare" ? "⇆" : c.kind === "chat" ? "💬" : "▸"}</span>
                  {c.title}
                </Link>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}

export function HistorySidebar({ activeId }: { activeId?: string | null }) {
  const [search, setSearch] = useState("");
  return (
    <nav aria-label="History" className="flex flex-col gap-2">
      <div className="flex items-center justify-between">
        <h2 className="text-sm font-semibold">History</h2>
        <Link href="/chats" className="text-xs underline">All</Link>
      </div>
      <input
        type="search"
        aria-label="Search history"
        placeholder="Search"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
        className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
      />
      <HistoryList activeId={activeId} search={search} limit={40} />
    </nav>
  );
}
