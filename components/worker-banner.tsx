"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "@/trpc/react";

/** Shown on every page while the worker is down or loading; polls so it goes away by itself. */
export function WorkerBanner() {
  const trpc = useTRPC();
  const { data } = useQuery({ ...trpc.status.health.queryOptions(), refetchInterval: 4000 });
  if (!data || (data.online && data.ready)) return null;
  const loading = data.online && !data.ready;
  return (
    <div
      role="status"
      data-testid="worker-offline-banner"
      className={`border-b px-4 py-2 text-center text-sm ${
        loading
          ? "border-amber-200 bg-amber-50 text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100"
          : "border-red-200 bg-red-50 text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100"
      }`}
    >
      {loading ? "The inference worker is loading its model — adapters become runnable when it is ready." : "The inference worker is offline — browsing works, running adapters does not. Retrying…"}{" "}
      <Link href="/status" className="underline">
        Status
      </Link>
    </div>
  );
}
