"use client";
/** "Share": freeze the chat as a snapshot under an unguessable link; copy it; revoke it. */
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

export function ShareButton({ chatId }: { chatId: string }) {
  const trpc = useTRPC();
  const [slug, setSlug] = useState<string | null>(null);
  const [revoked, setRevoked] = useState(false);
  const [copied, setCopied] = useState(false);
  const create = useMutation(trpc.shares.create.mutationOptions({ onSuccess: (r) => (setSlug(r.slug), setRevoked(false)) }));
  const revoke = useMutation(trpc.shares.revoke.mutationOptions({ onSuccess: () => setRevoked(true) }));
  const url = slug ? `${typeof window === "undefined" ? "" : window.location.origin}/s/${slug}` : null;
  return (
    <div className="relative inline-flex items-center gap-2">
      <button
        type="button"
        data-testid="share"
        onClick={() => create.mutate({ chatId })}
        disabled={create.isPending}
        className="rounded border border-slate-300 px-3 py-1 text-sm dark:border-slate-700"
      >
        {create.isPending ? "Sharing…" : slug ? "Share again" : "Share"}
      </button>
      {create.error && <span role="alert" className="text-xs text-red-600">{create.error.message}</span>}
      {url && (
        <div role="dialog" aria-label="Share link" data-testid="share-dialog" className="absolute left-0 top-9 z-20 w-80 rounded-lg border border-slate-200 bg-white p-3 text-sm shadow-lg dark:border-slate-700 dark:bg-slate-900">
          {revoked ? (
            <p data-testid="share-revoked">Link revoked: it now answers 404.</p>
          ) : (
            <>
              <p className="mb-2 text-xs text-slate-500">A read-only snapshot of this run as it is now. Anyone with the link can see it.</p>
              <input readOnly data-testid="share-url" value={url} onFocus={(e) => e.target.select()} className="w-full rounded border border-slate-300 px-2 py-1 font-mono text-xs dark:border-slate-700 dark:bg-slate-950" />
              <div className="mt-2 flex gap-2">
                <button type="button" className="rounded bg-brand-600 px-2 py-1 text-xs text-white" onClick={() => void navigator.clipboard?.writeText(url).then(() => setCopied(true)).catch(() => {})}>
                  {copied ? "Copied" : "Copy"}
                </button>
                <a href={url} target="_blank" rel="noreferrer" className="rounded border border-slate-300 px-2 py-1 text-xs dark:border-slate-700">Open</a>
                <button type="button" data-testid="share-revoke" className="ml-auto rounded px-2 py-1 text-xs text-red-700 hover:bg-red-50 dark:text-red-300 dark:hover:bg-red-950" onClick={() => revoke.mutate({ slug: slug! })}>
                  Revoke
                </button>
              </div>
            </>
          )}
        </div>
      )}
    </div>
  );
}
