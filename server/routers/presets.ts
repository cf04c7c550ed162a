/** Saved playground setups of the anonymous owner: list, save, load, rename/overwrite, delete. */
import { z } from "zod";
import { getCatalogAdapter } from "../db-queries/catalog";
import { createPreset, deletePreset, getPreset, listPresets, updatePreset } from "../db-queries/presets";
import { LoraLandError } from "../errors";
import { createTRPCRouter, mutationProcedure, ownerProcedure } from "../trpc";
import { LIMITS, paramsSchema, startInput } from "./generate";

const id = z.string().uuid("id must be a UUID");
const name = z.string().trim().min(1, "name is empty").max(100, "name is longer than 100 characters");

const setup = z.object({
  /** catalog slug; null = the base model */
  adapter: z.string().min(1, "adapter is empty").max(200, "adapter is too long").nullable(),
  mode: z.enum(["template", "raw", "chat"]),
  inputs: startInput.shape.inputs.unwrap().default({}),
  prompt: z.string().max(LIMITS.maxPromptChars, `prompt is longer than ${LIMITS.maxPromptChars} characters`).default(""),
  params: paramsSchema,
});

async function checkAdapter(db: Parameters<typeof getCatalogAdapter>[0], adapter: string | null): Promise<void> {
  if (adapter !== null && !(await getCatalogAdapter(db, { slug: adapter }))) throw new LoraLandError("NOT_FOUND", `adapter: no adapter "${adapter}" in the catalog`);
}

export const presetsRouter = createTRPCRouter({
  list: ownerProcedure.query(({ ctx }) => listPresets(ctx.db, { ownerId: ctx.ownerId })),

  get: ownerProcedure.input(z.object({ id })).query(({ ctx, input }) => getPreset(ctx.db, { ownerId: ctx.ownerId, id: input.id })),

  create: mutationProcedure.input(setup.extend({ name })).mutation(async ({ ctx, input }) => {
    await checkAdapter(ctx.db, input.adapter);
    return createPreset(ctx.db, { ownerId: ctx.ownerId, preset: input });
  }),

  /** rename (name only) or overwrite the setup (all of it) */
  update: mutationProcedure.input(z.object({ id, name: name.optional(), setup: setup.optional() })).mutation(async ({ ctx, input }) => {
    if (input.setup) await checkAdapter(ctx.db, input.setup.adapter);
    return updatePreset(ctx.db, { ownerId: ctx.ownerId, id: input.id, set: { ...(input.name !== undefined ? { name: input.name } : {}), ...input.setup } });
  }),

  delete: mutationProcedure.input(z.object({ id })).mutation(async ({ ctx, input }) => {
    await deletePreset(ctx.db, { ownerId: ctx.ownerId, id: input.id });
    return { id: input.id };
  }),
});
