import { CatalogView } from "@/components/catalog/catalog-view";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const dynamic = "force-dynamic";

export default function CatalogPage() {
  prefetch(trpc.catalog.list.queryOptions());
  return (
    <HydrateClient>
      <CatalogView />
    </HydrateClient>
  );
}
