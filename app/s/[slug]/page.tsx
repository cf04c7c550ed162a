import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { cache } from "react";
import { SharedView } from "@/components/share/SharedView";
import { serverCaller } from "@/trpc/server";

export const dynamic = "force-dynamic";

/** null for a missing or revoked share (both answer 404) */
const loadShare = cache(async (slug: string) => {
  try {
    return await (await serverCaller()).shares.get({ slug });
  } catch {
    return null;
  }
});

export async function generateMetadata({ params }: { params: Promise<{ slug: string }> }): Promise<Metadata> {
  const share = await loadShare((await params).slug);
  if (!share) return { title: "Share not found", robots: { index: false } };
  const models = share.snapshot.settings.adapters.map((a) => a ?? "base model").join(" vs ");
  return {
    title: share.title,
    description: share.description,
    robots: { index: false },
    openGraph: { title: `${share.title} — ${models}`, description: share.description, type: "article", siteName: "LoRA Land" },
    twitter: { card: "summary", title: share.title, description: share.description },
  };
}

export default async function SharePage({ params }: { params: Promise<{ slug: string }> }) {
  const share = await loadShare((await params).slug);
  if (!share) notFound();
  return <SharedView slug={share.slug} title={share.title} snapshot={share.snapshot} createdAt={share.createdAt} mine={share.mine} />;
}
