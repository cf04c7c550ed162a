"use client";
/**
 * Recent chats of this browser's owner, grouped by date, with search; each can be renamed or
 * deleted in place. On phones the sidebar is a drawer behind a "History" toggle.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useDeferredValue, useEffect, useState } from "react";
import { useTRPC } from "@/trpc/react";
import { useHydrated } from "@/components/hydrated";
import { dateGroup } from "./export";
import { friendlyError } from "./errors";

const icon = "h-3.5 w-3.5";
const PencilIcon = () => (
  <svg viewBox="0 0 20 20" fill="none" stroke="currentColor" strokeWidth="1.6" className={icon} aria-hidden="true">
    <path d="M13.5 3.5l3 3L7 16H4v-3z" />
  </svg>
);
const TrashIcon = () => (
  <svg viewBox="0 0 20 20" fill="none" stroke="currentColor" strokeWidth="1.6" className={icon} aria-hidden="true">
    <path d="M4 6h12M8 6V4h4v2M6 6l1 10h6l1-10" />
  </svg>
);

interface Item {
  id: string;
  title: string;
  kind: string;
}

function HistoryRow({ c, active, onDeleted }: { c: Item; active: boolean; onDeleted: (id: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const invalidate = () => queryClient.invalidateQueries(trpc.chats.pathFilter());
  const [editing, setEditing] = useState<string | null>(null);
  const rename = useMutation(trpc.chats.rename.mutationOptions({ onSuccess: () => (setEditing(null), invalidate()) }));
  const del = useMutation(trpc.chats.delete.mutationOptions({ onSuccess: () => (invalidate(), onDeleted(c.id)) }));
  const error = rename.error ?? del.error;
  if (editing !== null)
    return (
      <li>
        <form
          className="flex items-center gap-1 px-1"
          onSubmit={(e) => {
            e.preventDefault();
            if (editing.trim()) rename.mutate({ id: c.id, title: editing });
          }}
        >
          <input aria-label="New title" data-testid="history-rename-input" value={editing} onChange={(e) => setEditing(e.target.value)} maxLength={200} autoFocus onKeyDown={(e) => e.key === "Escape" && setEditing(null)} className="min-w-0 flex-1 rounded border border-slate-300 bg-white px-1 py-0.5 text-sm dark:border-slate-700 dark:bg-slate-900" />
          <button type="submit" data-testid="history-rename-save" disabled={!editing.trim() || rename.isPending} title={editing.trim() ? undefined : "A title cannot be empty"} className="rounded bg-brand-600 px-1.5 py-0.5 text-xs text-white disabled:opacity-50">
            Save
          </button>
          <button type="button" onClick={() => setEditing(null)} className="text-xs" aria-label="Cancel renaming">
            ✕
          </button>
        </form>
        {error && <p role="alert" className="px-1 text-xs text-red-600">{friendlyError(error)}</p>}
      </li>
    );
  return (
    <li className="group flex items-center gap-0.5" data-testid="history-row">
      <Link
        href={`/chats/${c.id}`}
        data-testid="history-item"
        aria-current={active ? "page" : undefined}
        className={`block min-w-0 flex-1 truncate rounded px-2 py-1 text-sm hover:bg-slate-100 dark:hover:bg-slate-800 ${active ? "bg-slate-100 font-medium dark:bg-slate-800" : ""}`}
        title={c.title}
      >
        <span className="mr-1 text-xs text-slate-400">{c.kind === "compare" ? "⇆" : c.kind === "chat" ? "›" : "▸"}</span>
        {c.title}
      </Link>
      <button type="button" data-testid="history-item-rename" aria-label={`Rename “${c.title}”`} title="Rename" onClick={() => setEditing(c.title)} className="rounded p-1 text-slate-500 hover:bg-slate-100 hover:text-slate-900 dark:hover:bg-slate-800 dark:hover:text-slate-100">
        <PencilIcon />
      </button>
      <button
        type="button"
        data-testid="history-item-delete"
        aria-label={`Delete “${c.title}”`}
        title="Delete"
        disabled={del.isPending}
        onClick={() => {
          if (window.confirm(`Delete “${c.title}” and its outputs?`)) del.mutate({ id: c.id });
        }}
        className="rounded p-1 text-slate-500 hover:bg-red-50 hover:text-red-700 dark:hover:bg-red-950 dark:hover:text-red-300"
      >
        <TrashIcon />
      </button>
      {del.error && <span role="alert" className="sr-only">{friendlyError(del.error)}</span>}
    </li>
  );
}

export function HistoryList({ activeId, search, limit }: { activeId?: string | null; search: string; limit?: number }) {
  const trpc = useTRPC();
  const router = useRouter();
  const deferred = useDeferredValue(search);
  const { data, isLoading, error } = useQuery({ ...trpc.chats.list.queryOptions({ search: deferred || undefined }), refetchInterval: 10_000 });
  // the list is rendered on the server too: its date groups use UTC days until the page is hydrated
  const hydrated = useHydrated();
  if (error) return <p className="text-xs text-red-600">{friendlyError(error)}</p>;
  if (isLoading) return <p className="text-xs text-slate-500">Loading…</p>;
  const items = (data ?? []).slice(0, limit);
  if (items.length === 0) return <p className="text-xs text-slate-500" data-testid="history-empty">{deferred ? "Nothing matches." : "Nothing yet: your runs appear here."}</p>;
  const groups = new Map<string, typeof items>();
  for (const c of items) {
    const g = dateGroup(new Date(c.updatedAt), undefined, { utc: !hydrated });
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  // the open chat deleted from the list: its page is gone too
  const onDeleted = (id: string) => {
    if (id === activeId) router.push("/chats");
  };
  return (
    <div className="flex flex-col gap-3" data-testid="history-list">
      {[...groups].map(([group, chats]) => (
        <section key={group}>
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">{group}</h3>
          <ul className="flex flex-col gap-0.5">
            {chats.map((c) => (
              <HistoryRow key={c.id} c={c} active={c.id === activeId} onDeleted={onDeleted} />
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

/** Phones and tablets (below lg, where the sidebar column is hidden): a toggle that opens the history as a drawer. */
export function HistoryDrawer({ activeId }: { activeId?: string | null }) {
  const pathname = usePathname();
  // open where it was opened: following a link (another page or chat) closes it
  const here = `${pathname} ${activeId ?? ""}`;
  const [openAt, setOpenAt] = useState<string | null>(null);
  const open = openAt === here;
  const setOpen = (v: boolean) => setOpenAt(v ? here : null);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpenAt(null);
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [open]);
  return (
    <div className="lg:hidden">
      <button type="button" data-testid="history-toggle" aria-expanded={open} aria-controls="history-drawer" onClick={() => setOpen(true)} className="rounded border border-slate-300 px-2 py-1 text-sm dark:border-slate-700">
        History
      </button>
      {open && (
        <div className="fixed inset-0 z-50 flex" role="dialog" aria-modal="true" aria-label="History">
          <div id="history-drawer" data-testid="history-drawer" className="flex h-full w-80 max-w-[85vw] flex-col gap-2 overflow-y-auto bg-white p-4 shadow-xl dark:bg-slate-950">
            <button type="button" aria-label="Close history" data-testid="history-close" onClick={() => setOpen(false)} className="self-end rounded px-2 py-1 text-sm hover:bg-slate-100 dark:hover:bg-slate-800">
              ✕
            </button>
            <HistorySidebar activeId={activeId} />
          </div>
          <button type="button" aria-label="Close history" tabIndex={-1} className="flex-1 bg-black/40" onClick={() => setOpen(false)} />
        </div>
      )}
    </div>
  );
}
