import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { ChatView } from "@/components/history/ChatView";
import { getQueryClient, HydrateClient, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Chat" };
export const dynamic = "force-dynamic";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default async function ChatPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  // not an id, or not this visitor's chat (someone else's answers the same): the 404 page at once
  if (!UUID.test(id)) notFound();
  try {
    await getQueryClient().fetchQuery(trpc.chats.get.queryOptions({ id }));
  } catch {
    notFound();
  }
  return (
    <HydrateClient>
      <ChatView id={id} />
    </HydrateClient>
  );
}
