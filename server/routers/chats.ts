/** History of the anonymous owner: list (with search), open, rename, delete, clear all. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { deleteAllChats, deleteChat, getChat, listChats, renameChat } from "../db-queries/chats";
import { createTRPCRouter, mutationProcedure, ownerProcedure } from "../trpc";

const id = z.string().uuid("id must be a UUID");

// a missing chat is a ChatNotFoundError (NOT_FOUND), mapped by server/trpc.ts

export const chatsRouter = createTRPCRouter({
  list: ownerProcedure
    .input(z.object({ search: z.string().max(200, "search is longer than 200 characters").optional() }).optional())
    .query(({ ctx, input }) => listChats({ db: ctx.db, ownerId: ctx.ownerId, search: input?.search })),

  get: ownerProcedure.input(z.object({ id })).query(async ({ ctx, input }) => {
    const chat = await getChat({ db: ctx.db, ownerId: ctx.ownerId, id: input.id });
    if (!chat) throw new TRPCError({ code: "NOT_FOUND", message: `chat ${input.id} not found` });
    return chat;
  }),

  rename: mutationProcedure
    .input(z.object({ id, title: z.string().trim().min(1, "title is empty").max(200, "title is longer than 200 characters") }))
    .mutation(({ ctx, input }) => renameChat({ db: ctx.db, ownerId: ctx.ownerId, id: input.id, title: input.title })),

  delete: mutationProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => deleteChat({ db: ctx.db, ownerId: ctx.ownerId, id: input.id })),

  /** Deletes every chat of this owner; `confirm: true` is required so a stray call cannot wipe a history. */
  clear: mutationProcedure
    .input(z.object({ confirm: z.literal(true, { message: "confirm must be true to delete every chat" }) }))
    .mutation(async ({ ctx }) => ({ deleted: await deleteAllChats({ db: ctx.db, ownerId: ctx.ownerId }) })),
});
