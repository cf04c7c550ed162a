/** What the caller may do: for the UI (admin controls, the admin token form). */
import { createTRPCRouter, publicProcedure } from "../trpc";

export const accessRouter = createTRPCRouter({
  me: publicProcedure.query(({ ctx }) => ({
    owner: ctx.ownerId !== null,
    admin: ctx.admin === true,
    /** admin comes from ADMIN_TOKEN (else from loopback) */
    tokenConfigured: !!ctx.env.ADMIN_TOKEN,
  })),
});
