/**
 * History: chats (a single run, a comparison, or a multi-turn chat), the user's turns, the
 * generations that answered them (one per pane), and frozen share snapshots.
 *
 * A chat's turn `t` is answered by the generations with `turn = t`, one per compare pane
 * (`pane` 0..5). A run is a chat with one turn and one pane.
 */
import { index, integer, jsonb, pgTable, real, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

export type ChatKind = "run" | "compare" | "chat";
export type PromptMode = "template" | "raw" | "chat";
/** queued → streaming → done | error | stopped (user) | interrupted (client gone, worker or server crash) */
export type GenerationStatus = "queued" | "streaming" | "done" | "error" | "stopped" | "interrupted";

/** Sampling parameters as the playground sends them (LoRAX names, snake_case). */
export interface GenerationParams {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  max_new_tokens: number;
  repetition_penalty?: number;
  stop?: string[];
  seed?: number;
  /** keep generating past EOS (LoRAX `ignore_eos_token`) */
  ignore_eos?: boolean;
  /** structured output (LoRAX's shape): the answer is one JSON object, of `schema` when given */
  response_format?: { type: "json_object"; schema?: Record<string, unknown> };
}

/** One streamed token, kept so the logprob view can be shown again from history. */
export interface StoredToken {
  id: number;
  text: string;
  logprob: number | null;
  special: boolean;
  alternatives?: { id: number; text: string; logprob: number }[];
}

/** What a chat was set up with, so "open" and "continue as a copy" restore the page. */
export interface ChatSettings {
  /** one entry per pane: adapter id, null = base model */
  adapters: (string | null)[];
  mode: PromptMode;
  /** template inputs by column (template mode) */
  inputs?: Record<string, string>;
  params: GenerationParams;
  /** chat mode: the system prompt, folded into the first user message of every request */
  system?: string;
}

export const chats = pgTable(
  "chats",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    kind: text("kind").$type<ChatKind>().notNull(),
    title: text("title").notNull(),
    settings: jsonb("settings").$type<ChatSettings>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("chats_owner_updated_idx").on(t.ownerId, t.updatedAt)],
);

/** A user (or system) turn: the rendered prompt of a run, or a chat message. */
export const chatMessages = pgTable(
  "chat_messages",
  {
    id: text("id").primaryKey(),
    chatId: text("chat_id")
      .notNull()
      .references(() => chats.id, { onDelete: "cascade" }),
    turn: integer("turn").notNull(),
    role: text("role").$type<"user" | "system">().notNull(),
    content: text("content").notNull(),
    /** template inputs that rendered `content` (template mode) */
    inputs: jsonb("inputs").$type<Record<string, string>>(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("chat_messages_chat_turn_idx").on(t.chatId, t.turn)],
);

/** One model answer, streamed from the worker, with the timings the web server measured. */
export const generations = pgTable(
  "generations",
  {
    id: text("id").primaryKey(),
    chatId: text("chat_id")
      .notNull()
      .references(() => chats.id, { onDelete: "cascade" }),
    ownerId: text("owner_id").notNull(),
    turn: integer("turn").notNull(),
    pane: integer("pane").notNull().default(0),
    /** adapter id on the worker; null = base model */
    adapterId: text("adapter_id"),
    mode: text("mode").$type<PromptMode>().notNull(),
    /** exactly what was sent to the worker (rendered template, raw text, or chat-templated turns) */
    prompt: text("prompt").notNull(),
    params: jsonb("params").$type<GenerationParams>().notNull(),
    status: text("status").$type<GenerationStatus>().notNull(),
    output: text("output").notNull().default(""),
    tokens: jsonb("tokens").$type<StoredToken[]>(),
    /** length | eos_token | stop_sequence (worker), or null while running / when cut off */
    finishReason: text("finish_reason"),
    error: text("error"),
    queueMs: real("queue_ms"),
    ttftMs: real("ttft_ms"),
    totalMs: real("total_ms"),
    tokensIn: integer("tokens_in"),
    tokensOut: integer("tokens_out"),
    tokensPerSecond: real("tokens_per_second"),
    seed: integer("seed"),
    /** the stream run it belongs to (one run = the panes started together), so any web server can find it */
    runId: text("run_id"),
    /** the web server process streaming it (web_instances.id); null on rows older than instances */
    instanceId: text("instance_id"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    index("generations_chat_idx").on(t.chatId, t.turn, t.pane),
    index("generations_status_idx").on(t.status),
    index("generations_run_idx").on(t.runId),
  ],
);

/**
 * Web server processes sharing the database. Each holds a lease it renews while alive; the
 * unfinished generations of an instance whose lease ran out (killed, or restarted) are marked
 * interrupted by whichever server notices first, never those of a live peer.
 */
export const webInstances = pgTable("web_instances", {
  id: text("id").primaryKey(),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  leaseUntil: timestamp("lease_until", { withTimezone: true, mode: "date" }).notNull(),
});

/** A frozen snapshot under an unguessable slug; `revokedAt` set = gone (410). */
export const shares = pgTable(
  "shares",
  {
    slug: text("slug").primaryKey(),
    ownerId: text("owner_id").notNull(),
    chatId: text("chat_id"),
    title: text("title").notNull(),
    description: text("description").notNull(),
    snapshot: jsonb("snapshot").$type<ShareSnapshot>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("shares_owner_idx").on(t.ownerId)],
);

export interface ShareSnapshotPane {
  adapterId: string | null;
  output: string;
  status: GenerationStatus;
  finishReason: string | null;
  error: string | null;
  stats: {
    queueMs: number | null;
    ttftMs: number | null;
    totalMs: number | null;
    tokensIn: number | null;
    tokensOut: number | null;
    tokensPerSecond: number | null;
  };
}

export interface ShareSnapshot {
  version: 1;
  kind: ChatKind;
  settings: ChatSettings;
  /** one entry per turn: the user's prompt and each pane's answer */
  turns: { prompt: string; inputs: Record<string, string> | null; panes: ShareSnapshotPane[] }[];
  createdAt: string;
}
