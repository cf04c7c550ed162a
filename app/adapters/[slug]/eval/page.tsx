import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { EvalView } from "@/components/eval/eval-view";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";
import { findAdapter } from "../find-adapter";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ slug: string }> }): Promise<Metadata> {
  const adapter = await findAdapter((await params).slug);
  return { title: adapter ? `Evaluation · ${adapter.displayName}` : "Adapter not found" };
}

export default async function AdapterEvalPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  if (!(await findAdapter(slug))) notFound();
  prefetch(trpc.eval.results.queryOptions({ slug }));
  prefetch(trpc.eval.tasks.queryOptions());
  return (
    <HydrateClient>
      <EvalView slug={slug} />
    </HydrateClient>
  );
}
