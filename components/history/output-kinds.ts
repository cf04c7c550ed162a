"use client";
/**
 * Stored answers (history, share links) know only the worker's adapter id: the catalog row
 * behind it says what the task expects, so JSON and SQL answers are highlighted there too.
 */
import { useQuery } from "@tanstack/react-query";
import { useCallback } from "react";
import { useTRPC } from "@/trpc/react";
import { outputKindOf, type OutputKind } from "../playground/output-format";

/** (adapter id, null = base model) → the answer's kind; text until the catalog is in. */
export function useOutputKinds(): (adapterId: string | null) => OutputKind {
  const trpc = useTRPC();
  const { data } = useQuery(trpc.catalog.list.queryOptions());
  return useCallback((adapterId: string | null) => (adapterId === null ? "text" : outputKindOf(data?.adapters.find((a) => a.adapterId === adapterId) ?? null)), [data]);
}
