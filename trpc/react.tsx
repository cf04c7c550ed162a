"use client";
/**
 * The browser side of tRPC: `useTRPC()` gives `trpc.<router>.<procedure>.queryOptions(...)`,
 * `mutationOptions`, `subscriptionOptions`. Subscriptions go over SSE (httpSubscriptionLink), a
 * run's start alone (httpLink), everything else over one streamed batch request (httpBatchStreamLink).
 */
import { type QueryClient, QueryClientProvider } from "@tanstack/react-query";
import {
  createTRPCClient,
  httpBatchStreamLink,
  httpLink,
  httpSubscriptionLink,
  loggerLink,
  splitLink,
} from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { useState } from "react";
import superjson from "superjson";
import type { AppRouter } from "@/server/root";
import { makeQueryClient } from "./query-client";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

let browserQueryClient: QueryClient | undefined;
function getQueryClient() {
  if (typeof window === "undefined") return makeQueryClient();
  return (browserQueryClient ??= makeQueryClient());
}

function baseUrl() {
  if (typeof window !== "undefined") return window.location.origin;
  return `http://127.0.0.1:${process.env.PORT ?? 3000}`;
}

export function TRPCReactProvider({ children }: { children: React.ReactNode }) {
  const queryClient = getQueryClient();
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        loggerLink({
          enabled: (op) => process.env.NODE_ENV === "development" || (op.direction === "down" && op.result instanceof Error),
        }),
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: `${baseUrl()}/api/trpc`, transformer: superjson }),
          false: splitLink({
            // a run's start is on its first token's path: sent at once, alone (the batch link
            // waits a timer task for company, behind the render of the queued panes)
            condition: (op) => op.path === "generate.start",
            true: httpLink({ url: `${baseUrl()}/api/trpc`, transformer: superjson, headers: () => ({ "x-trpc-source": "nextjs-react" }) }),
            false: httpBatchStreamLink({
              url: `${baseUrl()}/api/trpc`,
              transformer: superjson,
              headers: () => ({ "x-trpc-source": "nextjs-react" }),
            }),
          }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
