import type { Metadata } from "next";
import { ChatView } from "@/components/history/ChatView";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Chat" };
export const dynamic = "force-dynamic";

export default async function ChatPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (/^[0-9a-f-]{36}$/i.test(id)) prefetch(trpc.chats.get.queryOptions({ id }));
  return (
    <HydrateClient>
      <ChatView id={id} />
    </HydrateClient>
  );
}
