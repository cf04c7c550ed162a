/**
 * An owner's saved playground setups and their thumbs up/down on answers. Every query takes the
 * owner: a row of someone else is never read, changed or deleted (it is "not found").
 */
import { randomUUID } from "node:crypto";
import { and, desc, eq, inArray } from "drizzle-orm";
import type { Db } from "../../db/client";
import { generations } from "../../db/schema/chats";
import { generationFeedback, presets } from "../../db/schema/presets";
import { LoraLandError } from "../errors";

export type PresetRow = typeof presets.$inferSelect;
export type NewPreset = Pick<PresetRow, "name" | "adapter" | "mode" | "inputs" | "prompt" | "params">;
/** 1 = thumbs up, -1 = thumbs down */
export type Rating = 1 | -1;

const presetNotFound = (id: string) => new LoraLandError("NOT_FOUND", `id: no preset ${id}`);

/** Postgres' unique_violation, from either driver (PGlite and postgres.js; drizzle may wrap it). */
function isUniqueViolation(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) if ((c as { code?: unknown }).code === "23505") return true;
  return false;
}

const nameTaken = (name: string, cause: unknown) => new LoraLandError("CONFLICT", `name: you already have a preset named "${name}"`, { cause });

export async function listPresets(db: Db, { ownerId }: { ownerId: string }): Promise<PresetRow[]> {
  return db.select().from(presets).where(eq(presets.ownerId, ownerId)).orderBy(desc(presets.updatedAt), desc(presets.id));
}

export async function getPreset(db: Db, { ownerId, id }: { ownerId: string; id: string }): Promise<PresetRow> {
  const [row] = await db.select().from(presets).where(and(eq(presets.id, id), eq(presets.ownerId, ownerId)));
  if (!row) throw presetNotFound(id);
  return row;
}

export async function createPreset(db: Db, { ownerId, preset }: { ownerId: string; preset: NewPreset }): Promise<PresetRow> {
  try {
    const [row] = await db.insert(presets).values({ id: randomUUID(), ownerId, ...preset }).returning();
    return row!;
  } catch (e) {
    if (isUniqueViolation(e)) throw nameTaken(preset.name, e);
    throw e;
  }
}

/** Rename and/or overwrite a preset's setup. */
export async function updatePreset(db: Db, { ownerId, id, set }: { ownerId: string; id: string; set: Partial<NewPreset> }): Promise<PresetRow> {
  try {
    const [row] = await db
      .update(presets)
      .set({ ...set, updatedAt: new Date() })
      .where(and(eq(presets.id, id), eq(presets.ownerId, ownerId)))
      .returning();
    if (!row) throw presetNotFound(id);
    return row;
  } catch (e) {
    if (isUniqueViolation(e)) throw nameTaken(set.name ?? "", e);
    throw e;
  }
}

export async function deletePreset(db: Db, { ownerId, id }: { ownerId: string; id: string }): Promise<void> {
  const rows = await db.delete(presets).where(and(eq(presets.id, id), eq(presets.ownerId, ownerId))).returning({ id: presets.id });
  if (!rows.length) throw presetNotFound(id);
}

/**
 * Set the owner's rating of one of their answers; the same rating again removes it (a toggle).
 * Returns the rating now (null = none). Someone else's (or no) generation is not found.
 */
export async function toggleFeedback(db: Db, { ownerId, generationId, rating }: { ownerId: string; generationId: string; rating: Rating }): Promise<Rating | null> {
  return db.transaction(async (tx) => {
    const [gen] = await tx.select({ id: generations.id }).from(generations).where(and(eq(generations.id, generationId), eq(generations.ownerId, ownerId)));
    if (!gen) throw new LoraLandError("NOT_FOUND", `generationId: no answer ${generationId}`);
    const [old] = await tx.select({ rating: generationFeedback.rating }).from(generationFeedback).where(eq(generationFeedback.generationId, generationId));
    if (old?.rating === rating) {
      await tx.delete(generationFeedback).where(eq(generationFeedback.generationId, generationId));
      return null;
    }
    await tx
      .insert(generationFeedback)
      .values({ generationId, ownerId, rating })
      .onConflictDoUpdate({ target: generationFeedback.generationId, set: { rating, createdAt: new Date() } });
    return rating;
  });
}

/** The owner's ratings of some answers, by generation id (unrated ones absent). */
export async function feedbackFor(db: Db, { ownerId, generationIds }: { ownerId: string; generationIds: string[] }): Promise<Record<string, Rating>> {
  if (!generationIds.length) return {};
  const rows = await db
    .select({ generationId: generationFeedback.generationId, rating: generationFeedback.rating })
    .from(generationFeedback)
    .where(and(eq(generationFeedback.ownerId, ownerId), inArray(generationFeedback.generationId, generationIds)));
  return Object.fromEntries(rows.map((r) => [r.generationId, r.rating as Rating]));
}

/** The owner's ratings of a chat's answers, by generation id. */
export async function chatFeedback(db: Db, { ownerId, chatId }: { ownerId: string; chatId: string }): Promise<Record<string, Rating>> {
  const rows = await db
    .select({ generationId: generationFeedback.generationId, rating: generationFeedback.rating })
    .from(generationFeedback)
    .innerJoin(generations, eq(generations.id, generationFeedback.generationId))
    .where(and(eq(generations.chatId, chatId), eq(generationFeedback.ownerId, ownerId)));
  return Object.fromEntries(rows.map((r) => [r.generationId, r.rating as Rating]));
}
