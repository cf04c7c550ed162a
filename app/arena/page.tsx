import type { Metadata } from "next";
import { Arena } from "@/components/arena/Arena";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Arena", description: "Blind A/B battles between a task's adapters and the base model, and their leaderboard." };
export const dynamic = "force-dynamic";

export default async function ArenaPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { task } = await searchParams;
  prefetch(trpc.arena.tasks.queryOptions());
  // a linked task's standings come with the page (the first task's load after it)
  if (typeof task === "string") prefetch(trpc.arena.leaderboard.queryOptions({ task }));
  return (
    <HydrateClient>
      <Arena initialTask={typeof task === "string" ? task : null} />
    </HydrateClient>
  );
}
