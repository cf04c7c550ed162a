"use client";
/** Thumbs up / down on one of the owner's answers; pressing the same thumb again clears it. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

export type Rating = "up" | "down" | null;

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
      className={`rounded px-1.5 py-0.5 text-sm leading-none disabled:opacity-50 ${
        current === r ? (r === "up" ? "bg-emerald-100 dark:bg-emerald-900" : "bg-red-100 dark:bg-red-900") : "opacity-60 hover:bg-zinc-100 hover:opacity-100 dark:hover:bg-zinc-800"
      }`}
    >
      <span aria-hidden="true">{r === "up" ? "👍" : "👎"}</span>
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
