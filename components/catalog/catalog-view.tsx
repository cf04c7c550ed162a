"use client";
import { useSuspenseQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";

export function CatalogView() {
  const trpc = useTRPC();
  const { data } = useSuspenseQuery(trpc.catalog.list.queryOptions());
  return (
    <ul>
      {data.adapters.map((a) => (
        <li key={a.slug}>{a.displayName} — {a.run.reason}</li>
      ))}
    </ul>
  );
}
