import { StatusView } from "@/components/status/status-view";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const dynamic = "force-dynamic";
export const metadata = { title: "Worker status" };

export default function StatusPage() {
  prefetch(trpc.status.worker.queryOptions());
  return (
    <HydrateClient>
      <StatusView />
    </HydrateClient>
  );
}
