import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { AdapterDetail } from "@/components/catalog/adapter-detail";
import { HydrateClient, prefetch, serverCaller, trpc } from "@/trpc/server";

export const dynamic = "force-dynamic";

async function find(slug: string) {
  const caller = await serverCaller();
  return caller.catalog.bySlug({ slug }).catch(() => null);
}

export async function generateMetadata({ params }: { params: Promise<{ slug: string }> }): Promise<Metadata> {
  const adapter = await find((await params).slug);
  if (!adapter) return { title: "Adapter not found" };
  return { title: adapter.displayName, description: adapter.description };
}

export default async function AdapterPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  if (!(await find(slug))) notFound();
  prefetch(trpc.catalog.bySlug.queryOptions({ slug }));
  return (
    <HydrateClient>
      <AdapterDetail slug={slug} />
    </HydrateClient>
  );
}
