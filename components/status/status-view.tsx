"use client";
import { useSuspenseQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";

export function StatusView() {
  const trpc = useTRPC();
  const { data } = useSuspenseQuery({ ...trpc.status.worker.queryOptions(), refetchInterval: 2000 });
  return <pre>{JSON.stringify({ online: data.online, model: data.modelId }, null, 2)}</pre>;
}
