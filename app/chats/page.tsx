import type { Metadata } from "next";
import { ChatsIndex } from "@/components/history/ChatsIndex";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "History" };
export const dynamic = "force-dynamic";

export default function ChatsPage() {
  prefetch(trpc.chats.list.queryOptions({ search: undefined }));
  return (
    <HydrateClient>
      <ChatsIndex />
    </HydrateClient>
  );
}
