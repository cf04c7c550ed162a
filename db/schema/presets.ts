/**
 * An owner's saved playground setups (presets) and thumbs up/down on answers. Both belong to the
 * anonymous owner (the signed cookie); someone else's row is never found.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { generations, type GenerationParams, type PromptMode } from "./chats";

/** A named playground setup: the model, the prompt (template inputs or raw text) and the parameters. */
export const presets = pgTable(
  "presets",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    name: text("name").notNull(),
    /** catalog slug of the adapter; null = the base model */
    adapter: text("adapter"),
    mode: text("mode").$type<PromptMode>().notNull(),
    /** template inputs by column (template mode) */
    inputs: jsonb("inputs").$type<Record<string, string>>().notNull(),
    /** the raw prompt (raw and chat mode) */
    prompt: text("prompt").notNull().default(""),
    params: jsonb("params").$type<GenerationParams>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("presets_owner_name_idx").on(t.ownerId, t.name), index("presets_owner_updated_idx").on(t.ownerId, t.updatedAt)],
);

/** 1 = thumbs up, -1 = thumbs down; one per answer (its owner's). No row = no rating. */
export const generationFeedback = pgTable(
  "generation_feedback",
  {
    generationId: text("generation_id")
      .primaryKey()
      .references(() => generations.id, { onDelete: "cascade" }),
    ownerId: text("owner_id").notNull(),
    rating: integer("rating").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("generation_feedback_owner_idx").on(t.ownerId), check("generation_feedback_rating_check", sql`${t.rating} in (1, -1)`)],
);
