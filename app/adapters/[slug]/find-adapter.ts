import "server-only";
import { cache } from "react";
import { getQueryClient, trpc } from "@/trpc/server";

/**
 * The adapter of an `/adapters/<slug>` page, fetched once per request: generateMetadata, the
 * not-found check and the client's hydrated query share this one result (it lands in the
 * request's query client, which `<HydrateClient>` sends down). Null when there is no such adapter.
 */
export const findAdapter = cache((slug: string) =>
  getQueryClient()
    .fetchQuery(trpc.catalog.bySlug.queryOptions({ slug }))
    .catch(() => null),
);
