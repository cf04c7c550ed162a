import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { EvalView } from "@/components/eval/eval-view";
import { HydrateClient, prefetch, serverCaller, trpc } from "@/trpc/server";

export const dynamic = "force-dynamic";

async function find(slug: string) {
  const caller = await serverCaller();
  return caller.catalog.bySlug({ slug }).catch(() => null);
}

export async function generateMetadata({ params }: { params: Promise<{ slug: string }> }): Promise<Metadata> {
  const adapter = await find((await params).slug);
  return { title: adapter ? `Evaluation · ${adapter.displayName}` : "Adapter not found" };
}

export default async function AdapterEvalPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  if (!(await find(slug))) notFound();
  prefetch(trpc.catalog.bySlug.queryOptions({ slug }));
  prefetch(trpc.eval.results.queryOptions({ slug }));
  prefetch(trpc.eval.tasks.queryOptions());
  return (
    <HydrateClient>
      <EvalView slug={slug} />
    </HydrateClient>
  );
}
