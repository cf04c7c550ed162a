/** The adapter catalog, with each adapter's live runnable state on the connected worker. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { getCatalogAdapter, listCatalogAdapters } from "../db-queries/catalog";
import { inferenceUrl } from "../env";
import { measuredIntervals } from "../eval/result-intervals";
import { workerStatus } from "../inference/client";
import { runnability } from "../inference/runnable";
import { redactPaths } from "../http/redact";
import { createTRPCRouter, publicProcedure } from "../trpc";

/** An adapter as visitors see it: whose it is stays on the server; `mine` says if it is the caller's. */
function visible<T extends { ownerId: string | null }>(a: T, ownerId: string | null): Omit<T, "ownerId"> & { mine: boolean } {
  const { ownerId: owner, ...rest } = a;
  return { ...rest, mine: owner !== null && owner === ownerId };
}

export const catalogRouter = createTRPCRouter({
  /**
   * every adapter (no pagination: the catalog is one page), with metrics and runnable state, and
   * the 95% bootstrap intervals of its measured-here figures (`intervals`, null when none)
   */
  list: publicProcedure.query(async ({ ctx }) => {
    const [rows, worker] = await Promise.all([
      listCatalogAdapters(ctx.db),
      workerStatus(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL),
    ]);
    const intervals = await measuredIntervals(ctx.db, rows);
    return {
      worker: { online: worker.online, ready: worker.ready, modelId: worker.modelId, error: worker.error && redactPaths(worker.error) },
      adapters: rows.map((a) => ({ ...visible(a, ctx.ownerId), run: runnability(a, worker), intervals: intervals.get(a.slug) ?? null })),
    };
  }),

  /** just the live part of `list`, cheap to poll: each adapter's runnable state on the worker */
  runStates: publicProcedure.query(async ({ ctx }) => {
    const [rows, worker] = await Promise.all([
      listCatalogAdapters(ctx.db),
      workerStatus(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL),
    ]);
    return {
      worker: { online: worker.online, ready: worker.ready, modelId: worker.modelId, error: worker.error && redactPaths(worker.error) },
      states: Object.fromEntries(rows.map((a) => [a.slug, runnability(a, worker)])),
    };
  }),

  bySlug: publicProcedure
    .input(z.object({ slug: z.string().min(1, "slug is required").max(200, "slug is too long") }))
    .query(async ({ ctx, input }) => {
      const [adapter, worker] = await Promise.all([
        getCatalogAdapter(ctx.db, input),
        workerStatus(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL),
      ]);
      if (!adapter) throw new TRPCError({ code: "NOT_FOUND", message: `no adapter with slug "${input.slug}"` });
      const intervals = await measuredIntervals(ctx.db, [adapter]);
      return { ...visible(adapter, ctx.ownerId), run: runnability(adapter, worker), intervals: intervals.get(adapter.slug) ?? null };
    }),
});
