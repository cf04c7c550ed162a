"use client";
/**
 * "Share": freeze the chat as a snapshot under an unguessable link; copy it; revoke it. The
 * popover closes with ✕, Escape or a click outside; opening it again shows the same link (a new
 * one is minted only after a revoke). It sits in the page's flow below the button, so it never
 * covers the output pane's own buttons.
 */
import { useMutation } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useTRPC } from "@/trpc/react";

export function ShareButton({ chatId }: { chatId: string }) {
  const trpc = useTRPC();
  const [slug, setSlug] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  const [revoked, setRevoked] = useState(false);
  const [copied, setCopied] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const create = useMutation(trpc.shares.create.mutationOptions({ onSuccess: (r) => (setSlug(r.slug), setRevoked(false), setOpen(true)) }));
  const revoke = useMutation(trpc.shares.revoke.mutationOptions({ onSuccess: () => setRevoked(true) }));
  // a different chat (a new run) gets its own link
  const [forChat, setForChat] = useState(chatId);
  if (forChat !== chatId) {
    setForChat(chatId);
    setSlug(null);
    setOpen(false);
    setRevoked(false);
  }

  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    const onDown = (e: PointerEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("pointerdown", onDown);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", onDown);
    };
  }, [open]);

  const url = slug ? `${typeof window === "undefined" ? "" : window.location.origin}/s/${slug}` : null;
  return (
    <div ref={box} className="flex w-full flex-col items-start gap-2 sm:w-auto">
      <button
        type="button"
        data-testid="share"
        aria-expanded={open}
        onClick={() => {
          if (open) setOpen(false);
          else if (slug && !revoked) setOpen(true);
          else create.mutate({ chatId });
        }}
        disabled={create.isPending}
        className="rounded border border-slate-300 px-3 py-1 text-sm dark:border-slate-700"
      >
        {create.isPending ? "Sharing…" : "Share"}
      </button>
      {create.error && <span role="alert" className="text-xs text-red-600">Sharing failed: {create.error.message}</span>}
      {url && open && (
        <div role="dialog" aria-label="Share link" data-testid="share-dialog" className="w-full max-w-sm rounded-lg border border-slate-200 bg-white p-3 text-sm shadow-lg dark:border-slate-700 dark:bg-slate-900">
          <div className="mb-2 flex items-start gap-2">
            <p className="text-xs text-slate-500 dark:text-slate-400">
              {revoked ? "" : "A read-only snapshot of this run as it is now. Anyone with the link can see it."}
            </p>
            <button type="button" aria-label="Close" onClick={() => setOpen(false)} className="ml-auto rounded px-1.5 leading-5 text-slate-500 hover:bg-slate-100 hover:text-slate-900 dark:hover:bg-slate-800 dark:hover:text-white">
              ✕
            </button>
          </div>
          {revoked ? (
            <p data-testid="share-revoked">Link revoked: it now answers 404.</p>
          ) : (
            <>
              <input readOnly aria-label="Share link" data-testid="share-url" value={url} onFocus={(e) => e.target.select()} className="w-full rounded border border-slate-300 px-2 py-1 font-mono text-xs dark:border-slate-700 dark:bg-slate-950" />
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
