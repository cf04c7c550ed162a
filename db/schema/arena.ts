/**
 * The arena: blind battles between two models of one task (adapters of it and the base model),
 * minted by the server, and the owner's one vote on each. Which model was in which pane stays on
 * the server until the vote.
 */
import { sql } from "drizzle-orm";
import { check, index, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import type { GenerationParams } from "./chats";

/** A: pane A was better; B: pane B; tie; both_bad: neither answered well (a tie for the ratings). */
export type ArenaVote = "a" | "b" | "tie" | "both_bad";
export const ARENA_VOTES = ["a", "b", "tie", "both_bad"] as const satisfies readonly ArenaVote[];

export const arenaBattles = pgTable(
  "arena_battles",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    /** the task: an adapter's task card (`sql`), or the adapter's slug when it has none */
    task: text("task").notNull(),
    /** adapter slug in pane A; null = the base model */
    modelA: text("model_a"),
    modelB: text("model_b"),
    /** the worker's base model when the battle ran */
    baseModelId: text("base_model_id").notNull(),
    /** the stream hub's run (both panes), for the battle's subscription */
    runId: text("run_id").notNull(),
    inputs: jsonb("inputs").$type<Record<string, string>>().notNull(),
    params: jsonb("params").$type<GenerationParams>().notNull(),
    vote: text("vote").$type<ArenaVote>(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    votedAt: timestamp("voted_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    index("arena_battles_task_voted_idx").on(t.task, t.votedAt),
    index("arena_battles_owner_idx").on(t.ownerId, t.createdAt),
    check("arena_battles_vote_check", sql`${t.vote} is null or ${t.vote} in ('a', 'b', 'tie', 'both_bad')`),
  ],
);
