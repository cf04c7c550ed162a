import type { Metadata } from "next";
import { TrainView } from "@/components/train/train-view";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Train", description: "Fine-tune a LoRA adapter of the served base model on a dataset, watch the loss, and compare it with the base model." };
export const dynamic = "force-dynamic";

export default async function TrainPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const q = (await searchParams).run;
  const run = Number(Array.isArray(q) ? q[0] : q);
  const runId = Number.isInteger(run) && run >= 1 && run <= 2_147_483_647 ? run : null;
  prefetch(trpc.train.options.queryOptions());
  prefetch(trpc.train.datasets.queryOptions());
  prefetch(trpc.train.runs.queryOptions());
  if (runId !== null) prefetch(trpc.train.run.queryOptions({ id: runId }));
  return (
    <HydrateClient>
      <TrainView runId={runId} />
    </HydrateClient>
  );
}
