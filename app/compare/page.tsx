import type { Metadata } from "next";
import { Compare } from "@/components/compare/Compare";
import { parseSetup } from "@/components/playground/url-state";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Compare", description: "Run up to six adapters and the base model side by side on the same input." };
export const dynamic = "force-dynamic";

export default async function ComparePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const setup = parseSetup(await searchParams);
  prefetch(trpc.catalog.list.queryOptions());
  return (
    <HydrateClient>
      <Compare setup={setup} />
    </HydrateClient>
  );
}
