import type { Metadata } from "next";
import { Playground } from "@/components/playground/Playground";
import { parseSetup } from "@/components/playground/url-state";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Playground", description: "Prompt a fine-tuned adapter or the base model and watch it stream." };
export const dynamic = "force-dynamic";

export default async function PlaygroundPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const setup = parseSetup(await searchParams);
  prefetch(trpc.catalog.list.queryOptions());
  prefetch(trpc.status.worker.queryOptions());
  return (
    <HydrateClient>
      <Playground setup={setup} />
    </HydrateClient>
  );
}
