/** The worker as its users need to see it: up or not, model, adapters, load, memory. */
import { z } from "zod";
import { inferenceUrl } from "../env";
import { metricSum, workerStatus } from "../inference/client";
import { createTRPCRouter, publicProcedure } from "../trpc";

export const statusRouter = createTRPCRouter({
  worker: publicProcedure
    .input(z.object({ fresh: z.boolean().optional() }).optional())
    .query(async ({ ctx, input }) => {
      const s = await workerStatus(inferenceUrl(ctx.env), ctx.env.INFERENCE_PROTOCOL, { fresh: input?.fresh });
      const m = s.metrics;
      return {
        url: s.url,
        protocol: s.protocol,
        external: !!ctx.env.INFERENCE_URL,
        online: s.online,
        ready: s.ready,
        error: s.error,
        modelId: s.modelId,
        info: s.info,
        adapters: s.adapters,
        checkedAt: new Date(s.checkedAt),
        load: {
          tokensPerSecond: s.tokensPerSecond,
          running: metricSum(m, "worker_requests_running", "worker_running", "lorax_batch_current_size", "tgi_batch_current_size", "vllm:num_requests_running"),
          queued: metricSum(m, "worker_queue_size", "worker_requests_waiting", "worker_waiting", "lorax_queue_size", "tgi_queue_size", "vllm:num_requests_waiting"),
          residentAdapters: metricSum(m, "worker_resident_adapters", "worker_adapters_resident"),
          kvBlocksUsed: metricSum(m, "worker_kv_blocks_used", "worker_kv_blocks_in_use"),
          kvBlocksTotal: metricSum(m, "worker_kv_blocks_total"),
          generatedTokens: metricSum(m, "worker_generated_tokens", "worker_tokens_out", "lorax_request_generated_tokens_sum", "vllm:generation_tokens"),
          residentMemoryBytes: metricSum(m, "process_resident_memory_bytes"),
        },
        metrics: m?.filter((x) => !x.name.endsWith("_bucket")).slice(0, 400) ?? null,
      };
    }),
});
