"use client";
/** Thumbs up / down on one of the owner's answers; pressing the same thumb again clears it. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

export type Rating = "up" | "down" | null;

/** A thumb outline (drawn, not an emoji: not every system has an emoji font); `down` turns it over. */
function Thumb({ down }: { down: boolean }) {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" style={down ? { transform: "rotate(180deg)" } : undefined}>
      <path d="M7 11v9H4.5A1.5 1.5 0 0 1 3 18.5v-6A1.5 1.5 0 0 1 4.5 11H7Zm0 0 3.6-7.2A1.9 1.9 0 0 1 14.2 5l-.7 4h5.3a2 2 0 0 1 2 2.3l-1.2 7A2 2 0 0 1 17.6 20H7" />
    </svg>
  );
}

export function FeedbackButtons({ generationId, rating }: { generationId: string; rating: Rating }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // the server's answer wins; until then the click shows at once
  const [local, setLocal] = useState<{ id: string; rating: Rating } | null>(null);
  const current = local?.id === generationId ? local.rating : rating;
  const toggle = useMutation(
    trpc.feedback.toggle.mutationOptions({
      // the ratings others read (the export) are fresh before the button shows the new state
      onSuccess: async (res) => {
        await queryClient.invalidateQueries(trpc.feedback.get.pathFilter());
        setLocal({ id: res.generationId, rating: res.rating });
      },
    }),
  );
  const thumb = (r: "up" | "down") => (
    <button
      type="button"
      aria-pressed={current === r}
      aria-label={r === "up" ? "Good answer (thumbs up)" : "Bad answer (thumbs down)"}
      title={current === r ? "Click again to clear" : r === "up" ? "Good answer" : "Bad answer"}
      disabled={toggle.isPending}
      onClick={() => toggle.mutate({ generationId, rating: r })}
      data-testid={`thumbs-${r}`}
      className={`rounded p-1 leading-none disabled:opacity-50 ${
        current === r
          ? r === "up"
            ? "bg-emerald-100 text-emerald-800 dark:bg-emerald-900 dark:text-emerald-100"
            : "bg-red-100 text-red-800 dark:bg-red-900 dark:text-red-100"
          : "text-zinc-500 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
      }`}
    >
      <Thumb down={r === "down"} />
    </button>
  );
  return (
    <span className="flex items-center gap-0.5" role="group" aria-label="Rate this answer" data-testid="feedback" data-rating={current ?? "none"}>
      {thumb("up")}
      {thumb("down")}
      {toggle.error && (
        <span role="alert" className="text-xs text-red-600">
          {toggle.error.message}
        </span>
      )}
    </span>
  );
}
