/** Thumbs up/down on the owner's own answers (a generation row); the same thumb again clears it. */
import { z } from "zod";
import { chatFeedback, feedbackFor, toggleFeedback } from "../db-queries/presets";
import { createTRPCRouter, mutationProcedure, ownerProcedure } from "../trpc";

const generationId = z.string().uuid("generationId must be a UUID");

export const feedbackRouter = createTRPCRouter({
  /** `rating`: "up" or "down"; answers the rating now (null after a toggle off) */
  toggle: mutationProcedure.input(z.object({ generationId, rating: z.enum(["up", "down"]) })).mutation(async ({ ctx, input }) => {
    const now = await toggleFeedback(ctx.db, { ownerId: ctx.ownerId, generationId: input.generationId, rating: input.rating === "up" ? 1 : -1 });
    return { generationId: input.generationId, rating: now === null ? null : now === 1 ? ("up" as const) : ("down" as const) };
  }),

  /** the owner's ratings by generation id: of a chat, or of some answers */
  get: ownerProcedure
    .input(z.union([z.object({ chatId: z.string().uuid("chatId must be a UUID") }), z.object({ generationIds: z.array(generationId).max(200, "at most 200 generationIds") })]))
    .query(async ({ ctx, input }) => {
      const ratings = "chatId" in input ? await chatFeedback(ctx.db, { ownerId: ctx.ownerId, chatId: input.chatId }) : await feedbackFor(ctx.db, { ownerId: ctx.ownerId, generationIds: input.generationIds });
      return Object.fromEntries(Object.entries(ratings).map(([k, v]) => [k, v === 1 ? ("up" as const) : ("down" as const)]));
    }),
});
