/**
 * Server components: `prefetch(trpc.catalog.list.queryOptions())` in a page, then
 * `<HydrateClient>` around client components that `useSuspenseQuery` the same options.
 * Calls go straight to the router (no HTTP) with a context built from the request headers.
 */
import "server-only";
import { dehydrate, HydrationBoundary } from "@tanstack/react-query";
import { createTRPCOptionsProxy, type TRPCQueryOptions } from "@trpc/tanstack-react-query";
import { headers } from "next/headers";
import { cache } from "react";
import { getServerDb } from "@/server/db";
import { getEnv } from "@/server/env";
import { appRouter, createCaller } from "@/server/root";
import { createTRPCContext } from "@/server/trpc";
import { makeQueryClient } from "./query-client";

const createContext = cache(async () => {
  const h = new Headers(await headers());
  h.set("x-trpc-source", "rsc");
  return createTRPCContext({ headers: h, db: await getServerDb(), env: getEnv() });
});

export const getQueryClient = cache(makeQueryClient);

export const trpc = createTRPCOptionsProxy({ router: appRouter, ctx: createContext, queryClient: getQueryClient });

/** Direct server-side calls (e.g. generateMetadata, notFound checks). */
export const serverCaller = cache(async () => createCaller(await createContext()));

export function HydrateClient({ children }: { children: React.ReactNode }) {
  return <HydrationBoundary state={dehydrate(getQueryClient())}>{children}</HydrationBoundary>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function prefetch<T extends ReturnType<TRPCQueryOptions<any>>>(queryOptions: T) {
  const queryClient = getQueryClient();
  if (queryOptions.queryKey[1]?.type === "infinite") void queryClient.prefetchInfiniteQuery(queryOptions as never);
  else void queryClient.prefetchQuery(queryOptions);
}
