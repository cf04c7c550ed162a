"use client";
/**
 * The adapters this browser uploaded (all user adapters for the admin): rename, describe, give
 * sample inputs, delete. GET/PATCH/DELETE /api/adapters decide who may; this only shows it.
 */
import Link from "next/link";
import { useCallback, useEffect, useState } from "react";

interface Managed {
  slug: string;
  displayName: string;
  description: string;
  task: string;
  inputColumns: string[];
  sampleInputs: Record<string, string>[];
}

async function call(method: "GET" | "PATCH" | "DELETE", query: string, body?: unknown): Promise<{ ok: boolean; json: { error?: string; adapters?: Managed[] } }> {
  const res = await fetch(`/api/adapters${query}`, { method, headers: body ? { "content-type": "application/json" } : undefined, body: body ? JSON.stringify(body) : undefined });
  const json = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as { error?: string; adapters?: Managed[] };
  return { ok: res.ok, json };
}

function Editor({ a, onSaved, onCancel }: { a: Managed; onSaved: () => void; onCancel: () => void }) {
  const [name, setName] = useState(a.displayName);
  const [description, setDescription] = useState(a.description);
  const [sample, setSample] = useState<Record<string, string>>(a.sampleInputs[0] ?? {});
  const [error, setError] = useState<string | null>(null);
  const input = "w-full rounded-md border border-slate-300 bg-transparent px-2 py-1 text-sm dark:border-slate-700";
  const filled = a.inputColumns.filter((c) => sample[c]?.trim());
  return (
    <form
      className="mt-2 space-y-2"
      data-testid="my-adapter-editor"
      onSubmit={(e) => {
        e.preventDefault();
        if (!name.trim()) return setError("Name: a name is required.");
        if (filled.length > 0 && filled.length < a.inputColumns.length) return setError(`Sample input: fill in every field (${a.inputColumns.join(", ")}) or none.`);
        const rest = a.sampleInputs.slice(1);
        const sampleInputs = a.inputColumns.length === 0 ? undefined : filled.length > 0 ? [sample, ...rest] : rest;
        void call("PATCH", `?id=${encodeURIComponent(a.slug)}`, { displayName: name, description, sampleInputs }).then((r) => (r.ok ? onSaved() : setError(r.json.error ?? "Saving failed.")));
      }}
    >
      <label className="block text-xs">
        <span className="mb-0.5 block font-medium">Name</span>
        <input className={input} value={name} maxLength={80} onChange={(e) => setName(e.target.value)} data-testid="my-adapter-name" autoFocus />
      </label>
      <label className="block text-xs">
        <span className="mb-0.5 block font-medium">Description</span>
        <textarea className={input} rows={2} maxLength={2000} value={description} onChange={(e) => setDescription(e.target.value)} data-testid="my-adapter-description" />
      </label>
      {a.inputColumns.map((c) => (
        <label key={c} className="block text-xs">
          <span className="mb-0.5 block font-mono">sample: {c}</span>
          <textarea className={input} rows={2} value={sample[c] ?? ""} onChange={(e) => setSample((s) => ({ ...s, [c]: e.target.value }))} data-testid={`my-adapter-sample-${c}`} />
        </label>
      ))}
      {error && (
        <p role="alert" className="text-xs text-red-600 dark:text-red-400" data-testid="my-adapter-error">
          {error}
        </p>
      )}
      <div className="flex gap-2">
        <button type="submit" className="rounded bg-brand-600 px-2 py-1 text-sm text-white" data-testid="my-adapter-save">
          Save
        </button>
        <button type="button" className="text-sm" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function YourAdapters({ refreshKey }: { refreshKey: number }) {
  const [list, setList] = useState<Managed[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const load = useCallback(() => {
    void call("GET", "").then((r) => (r.ok ? (setList(r.json.adapters ?? []), setError(null)) : setError(r.json.error ?? "Could not load your adapters.")));
  }, []);
  useEffect(load, [load, refreshKey]);
  return (
    <section className="max-w-xl space-y-2" data-testid="my-adapters" aria-labelledby="my-adapters-heading">
      <h2 id="my-adapters-heading" className="text-lg font-semibold">
        Your adapters
      </h2>
      {error && (
        <p role="alert" className="text-sm text-red-600 dark:text-red-400" data-testid="my-adapters-error">
          {error}
        </p>
      )}
      {list?.length === 0 && <p className="text-sm text-slate-500">None yet: the adapters you add appear here, to rename or delete.</p>}
      <ul className="divide-y divide-slate-200 dark:divide-slate-800">
        {list?.map((a) => (
          <li key={a.slug} className="py-2" data-testid="my-adapter" data-slug={a.slug}>
            <div className="flex flex-wrap items-center gap-2">
              <Link href={`/adapters/${a.slug}`} className="min-w-0 font-medium underline-offset-2 hover:underline" data-testid="my-adapter-title">
                {a.displayName}
              </Link>
              {a.displayName !== a.slug && <span className="font-mono text-xs text-slate-500">{a.slug}</span>}
              {a.task && <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs dark:bg-slate-800">{a.task}</span>}
              <span className="ml-auto flex gap-2 text-sm">
                <button type="button" className="rounded border border-slate-300 px-2 py-0.5 dark:border-slate-700" onClick={() => setEditing(editing === a.slug ? null : a.slug)} data-testid="my-adapter-edit">
                  Rename / edit
                </button>
                <button
                  type="button"
                  className="rounded px-2 py-0.5 text-red-700 hover:bg-red-50 dark:text-red-300 dark:hover:bg-red-950"
                  data-testid="my-adapter-delete"
                  onClick={() => {
                    if (!window.confirm(`Delete the adapter “${a.displayName}”? Its files, catalog entry and eval results go.`)) return;
                    void call("DELETE", `?id=${encodeURIComponent(a.slug)}`).then((r) => (r.ok ? load() : setError(r.json.error ?? "Deleting failed.")));
                  }}
                >
                  Delete
                </button>
              </span>
            </div>
            {a.description && editing !== a.slug && <p className="mt-1 text-xs break-words text-slate-600 dark:text-slate-400">{a.description}</p>}
            {editing === a.slug && (
              <Editor
                a={a}
                onSaved={() => {
                  setEditing(null);
                  load();
                }}
                onCancel={() => setEditing(null)}
              />
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
