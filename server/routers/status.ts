/** The worker as its users need to see it: up or not, model, adapters, load, memory. */
import { z } from "zod";
import { inferenceUrl } from "../env";
import { GENERATED_TOKEN_COUNTERS, metricSum, type PromSample, workerStatus } from "../inference/client";
import { redactDeep, redactPaths } from "../http/redact";
import { createTRPCRouter, publicProcedure } from "../trpc";

/** Mean of a Prometheus histogram/summary (its _sum over its _count); null when unknown or empty. */
function mean(m: PromSample[] | null, ...names: string[]): number | null {
  for (const n of names) {
    const sum = metricSum(m, `${n}_sum`);
    const count = metricSum(m, `${n}_count`);
    if (sum !== null && count) return sum / count;
  }
  return null;
}

/**
 * Where the "Use via API" snippets point: PUBLIC_INFERENCE_URL when set (the worker itself); else
 * null = this site's keyed /api/v1 proxy (app/api/v1), since the address the web server uses for
 * the worker (often loopback) is not one people can reach.
 */
export function snippetTarget(publicUrl: string | undefined): { url: string | null; note: string | null } {
  if (publicUrl) return { url: publicUrl, note: null };
  return {
    url: null,
    note: "Through this site's /api/v1 (the worker's OpenAI routes): send Authorization: Bearer <ADMIN_TOKEN>, or call it from this site's pages. Set PUBLIC_INFERENCE_URL to show the worker's own address.",
  };
}

export const statusRouter = createTRPCRouter({
  /** the small part every page polls (the offline banner) */
  health: publicProcedure.query(async ({ ctx }) => {
    const s = await workerStatus(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL);
    return { online: s.online, ready: s.ready, error: s.error && redactPaths(s.error), modelId: s.modelId };
  }),

  worker: publicProcedure
    .input(z.object({ fresh: z.boolean().optional() }).optional())
    .query(async ({ ctx, input }) => {
      const s = await workerStatus(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL, { fresh: input?.fresh });
      const m = s.metrics;
      return {
        url: s.url,
        /** the address "Use via API" shows, and a note when people may not reach it */
        api: snippetTarget(ctx.env.PUBLIC_INFERENCE_URL),
        protocol: s.protocol,
        external: !!ctx.env.INFERENCE_URL,
        online: s.online,
        ready: s.ready,
        // the worker's answers, with server paths cut to their last part (server/http/redact.ts)
        error: s.error && redactPaths(s.error),
        modelId: s.modelId,
        info: redactDeep(s.info),
        adapters: redactDeep(s.adapters),
        checkedAt: new Date(s.checkedAt),
        load: {
          tokensPerSecond: s.tokensPerSecond,
          running: metricSum(m, "worker_running_requests", "lorax_batch_current_size", "tgi_batch_current_size", "vllm:num_requests_running"),
          queued: metricSum(m, "worker_queue_size", "worker_waiting_requests", "lorax_queue_size", "tgi_queue_size", "vllm:num_requests_waiting"),
          inFlight: metricSum(m, "worker_requests_in_flight"),
          residentAdapters: metricSum(m, "worker_adapters_resident"),
          kvBlocksUsed: metricSum(m, "worker_kv_blocks_used"),
          kvBlocksTotal: metricSum(m, "worker_kv_blocks_total"),
          generatedTokens: metricSum(m, ...GENERATED_TOKEN_COUNTERS),
          /** mean over the worker's lifetime, seconds */
          meanTtftSeconds: mean(m, "worker_time_to_first_token_seconds", "lorax_request_time_to_first_token", "vllm:time_to_first_token_seconds"),
          meanTimePerOutputTokenSeconds: mean(m, "worker_time_per_output_token_seconds", "lorax_request_mean_time_per_token_duration", "vllm:time_per_output_token_seconds"),
          residentMemoryBytes: metricSum(m, "process_resident_memory_bytes"),
        },
        metrics: redactDeep(m?.filter((x) => !x.name.endsWith("_bucket")).slice(0, 400) ?? null),
      };
    }),
});
