import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { AdapterDetail } from "@/components/catalog/adapter-detail";
import { HydrateClient } from "@/trpc/server";
import { findAdapter } from "./find-adapter";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ slug: string }> }): Promise<Metadata> {
  const adapter = await findAdapter((await params).slug);
  if (!adapter) return { title: "Adapter not found" };
  return { title: adapter.displayName, description: adapter.description };
}

export default async function AdapterPage({ params }: { params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  if (!(await findAdapter(slug))) notFound();
  return (
    <HydrateClient>
      <AdapterDetail slug={slug} />
    </HydrateClient>
  );
}
