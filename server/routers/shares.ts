/** Share links: freeze a chat under an unguessable slug, read it without an account, revoke it. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { createShare, getShare, listShares, revokeShare } from "../db-queries/shares";
import { createTRPCRouter, mutationProcedure, ownerProcedure, publicProcedure } from "../trpc";

const slug = z.string().regex(/^[0-9A-Za-z]{10,32}$/, "slug must be 10–32 letters or digits");

export const sharesRouter = createTRPCRouter({
  create: mutationProcedure.input(z.object({ chatId: z.string().uuid("chatId must be a UUID") })).mutation(async ({ ctx, input }) => {
    // not this owner's chat: ChatNotFoundError (NOT_FOUND), mapped by server/trpc.ts
    const share = await createShare({ db: ctx.db, ownerId: ctx.ownerId, chatId: input.chatId });
    return { slug: share.slug };
  }),

  /** Public. A revoked share is NOT_FOUND too (the page says it was revoked). */
  get: publicProcedure.input(z.object({ slug })).query(async ({ ctx, input }) => {
    const found = await getShare({ db: ctx.db, slug: input.slug });
    if (found.state === "missing") throw new TRPCError({ code: "NOT_FOUND", message: "no such share" });
    if (found.state === "revoked") throw new TRPCError({ code: "NOT_FOUND", message: "this share was revoked by its owner" });
    const { ownerId, ...share } = found.share;
    return { ...share, mine: ownerId === ctx.ownerId };
  }),

  revoke: mutationProcedure.input(z.object({ slug })).mutation(async ({ ctx, input }) => {
    if (!(await revokeShare({ db: ctx.db, ownerId: ctx.ownerId, slug: input.slug })))
      throw new TRPCError({ code: "NOT_FOUND", message: "no live share with this slug is yours" });
    return { revoked: true };
  }),

  list: ownerProcedure
    .input(z.object({ chatId: z.string().uuid().optional() }).optional())
    .query(({ ctx, input }) => listShares({ db: ctx.db, ownerId: ctx.ownerId, chatId: input?.chatId })),
});
