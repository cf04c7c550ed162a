/**
 * History queries: chats, their turns and generations. Every read and write is scoped by owner.
 * Small functions taking one object argument; the db handle is passed in so the same queries run
 * on PGlite and postgres.js (and in tests on a throwaway database).
 */
import { randomUUID } from "node:crypto";
import { and, asc, desc, eq, ilike, inArray, or, sql } from "drizzle-orm";
import type { PgDatabase } from "drizzle-orm/pg-core";
import { LoraLandError } from "../errors";
import {
  chatMessages,
  chats,
  generations,
  webInstances,
  type ChatKind,
  type ChatSettings,
  type GenerationParams,
  type GenerationStatus,
  type PromptMode,
  type StoredToken,
} from "../../db/schema/chats";
import { storableText } from "./text";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = PgDatabase<any, any, any>;

export type Chat = typeof chats.$inferSelect;
export type ChatMessage = typeof chatMessages.$inferSelect;
export type Generation = typeof generations.$inferSelect;

/**
 * The default title of a new chat: the user's own words, shortened to their first line. In
 * template mode those are the inputs (the first filled one), not the rendered prompt, whose first
 * line is the template's instruction and the same for every run of an adapter.
 */
export function titleFromPrompt(prompt: string, inputs?: Record<string, string> | null): string {
  const own = Object.values(inputs ?? {}).find((v) => v.trim() !== "") ?? prompt;
  const line = own.trim().split("\n").find((l) => l.trim() !== "")?.trim().replace(/\s+/g, " ") ?? "Untitled";
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

export async function createChat({
  db,
  id = randomUUID(),
  ownerId,
  kind,
  title,
  settings,
}: {
  db: Db;
  id?: string;
  ownerId: string;
  kind: ChatKind;
  title: string;
  settings: ChatSettings;
}): Promise<Chat> {
  const [row] = await db
    .insert(chats)
    .values({ id, ownerId, kind, title, settings })
    .returning();
  return row!;
}

/**
 * Appends a turn (the user's prompt) and one queued generation per pane, in one transaction.
 * The turn number is the next free one of the chat.
 */
export async function startTurn({
  db,
  ownerId,
  chatId,
  content,
  inputs,
  mode,
  panes,
  params,
}: {
  db: Db;
  ownerId: string;
  chatId: string;
  content: string;
  inputs: Record<string, string> | null;
  mode: PromptMode;
  /** per pane: adapter id (null = base), the exact prompt sent to the worker, and optionally the generation's id */
  panes: { adapterId: string | null; prompt: string; id?: string }[];
  params: GenerationParams;
}): Promise<{ turn: number; generations: Generation[] }> {
  return db.transaction(async (tx) => {
    const owned = await tx
      .select({ id: chats.id })
      .from(chats)
      .where(and(eq(chats.id, chatId), eq(chats.ownerId, ownerId)))
      .for("update");
    if (owned.length === 0) throw new ChatNotFoundError(chatId);
    const [{ next }] = (await tx
      .select({ next: sql<number>`coalesce(max(${chatMessages.turn}) + 1, 0)::int` })
      .from(chatMessages)
      .where(eq(chatMessages.chatId, chatId))) as [{ next: number }];
    await tx.insert(chatMessages).values({ id: randomUUID(), chatId, turn: next, role: "user", content, inputs });
    const rows = await tx
      .insert(generations)
      .values(
        panes.map((p, pane) => ({
          id: p.id ?? randomUUID(),
          chatId,
          ownerId,
          turn: next,
          pane,
          adapterId: p.adapterId,
          mode,
          prompt: p.prompt,
          params,
          status: "queued" as const,
        })),
      )
      .returning();
    await tx.update(chats).set({ updatedAt: new Date() }).where(eq(chats.id, chatId));
    return { turn: next, generations: rows.sort((a, b) => a.pane - b.pane) };
  });
}

/**
 * A run's rows in ONE statement (one round trip, atomic): for a new chat the chat, its first turn
 * and one queued generation per pane; for an existing chat of this owner the next turn and its
 * generations (nothing is written when the chat is not this owner's → ChatNotFoundError).
 * What `generate.start` waits for before it answers, so a chat whose id was answered survives a
 * kill -9 without a transaction's five extra round trips on the TTFT path.
 */
export async function startRun({
  db,
  ownerId,
  chat,
  content,
  inputs,
  mode,
  panes,
  params,
  runId,
  instanceId,
}: {
  db: Db;
  ownerId: string;
  /** a new chat (with its id), or the id of one to continue */
  chat: { id: string; kind: ChatKind; title: string; settings: ChatSettings } | { continue: string };
  content: string;
  inputs: Record<string, string> | null;
  mode: PromptMode;
  panes: { id: string; adapterId: string | null; prompt: string }[];
  params: GenerationParams;
  runId: string;
  instanceId: string | null;
}): Promise<{ turn: number }> {
  const chatId = "continue" in chat ? chat.continue : chat.id;
  const json = (v: unknown) => sql`${v === null || v === undefined ? null : JSON.stringify(v)}::jsonb`;
  const values = sql.join(
    panes.map((p, pane) => sql`(${p.id}::text, ${pane}::int, ${p.adapterId}::text, ${p.prompt}::text)`),
    sql`, `,
  );
  // the chat row: inserted, or this owner's touched (its row lock orders concurrent turns)
  const head =
    "continue" in chat
      ? sql`c as (update ${chats} set updated_at = now() where id = ${chatId} and owner_id = ${ownerId} returning id),
            t as (select coalesce(max(turn) + 1, 0)::int as turn from ${chatMessages} where chat_id = ${chatId})`
      : sql`c as (insert into ${chats} (id, owner_id, kind, title, settings) values (${chatId}, ${ownerId}, ${chat.kind}, ${chat.title}, ${json(chat.settings)}) returning id),
            t as (select 0 as turn)`;
  const statement = sql`with ${head},
    m as (insert into ${chatMessages} (id, chat_id, turn, role, content, inputs)
          select ${randomUUID()}, c.id, t.turn, 'user', ${content}, ${json(inputs)} from c, t returning turn),
    g as (insert into ${generations} (id, chat_id, owner_id, turn, pane, adapter_id, mode, prompt, params, status, run_id, instance_id)
          select v.id, ${chatId}, ${ownerId}, m.turn, v.pane, v.adapter_id, ${mode}, v.prompt, ${json(params)}, 'queued', ${runId}, ${instanceId}::text
          from m, (values ${values}) as v(id, pane, adapter_id, prompt) returning id)
    select (select turn from m) as turn, (select count(*) from g)::int as n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const [row] = rowsOf<{ turn: number | null; n: number }>(await db.execute(statement));
      if (row?.turn === null || row?.turn === undefined) throw new ChatNotFoundError(chatId);
      return { turn: row.turn };
    } catch (e) {
      // two turns of one chat at once: the later statement read the turn number before the
      // earlier committed (the unique index refuses it); it is atomic, so retrying is safe
      if (attempt < 3 && "continue" in chat && pgCode(e) === "23505") continue;
      throw e;
    }
  }
}

/** Rows of `db.execute` on either driver (postgres.js: the array; PGlite: `.rows`). */
function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as T[];
}

/** A Postgres error's SQLSTATE, also when drizzle wraps it. */
function pgCode(e: unknown): string | undefined {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, i = 0; x && i < 4; x = x.cause as typeof x, i++)
    if (typeof x.code === "string" && /^[0-9A-Z]{5}$/.test(x.code)) return x.code;
  return undefined;
}

export interface GenerationPatch {
  status?: GenerationStatus;
  output?: string;
  tokens?: StoredToken[];
  finishReason?: string | null;
  error?: string | null;
  queueMs?: number | null;
  ttftMs?: number | null;
  totalMs?: number | null;
  tokensIn?: number | null;
  tokensOut?: number | null;
  tokensPerSecond?: number | null;
  seed?: number | null;
  finishedAt?: Date | null;
}

/** A model's output can hold a NUL (storableText: kept as U+FFFD). */
export async function updateGeneration({ db, id, patch }: { db: Db; id: string; patch: GenerationPatch }) {
  const stored: GenerationPatch = { ...patch };
  if (patch.output !== undefined) stored.output = storableText(patch.output);
  if (patch.error) stored.error = storableText(patch.error);
  if (patch.tokens) stored.tokens = patch.tokens.map((t) => ({ ...t, text: storableText(t.text), ...(t.alternatives ? { alternatives: t.alternatives.map((a) => ({ ...a, text: storableText(a.text) })) } : {}) }));
  await db.update(generations).set(stored).where(eq(generations.id, id));
}

/**
 * Single-process databases (PGlite) at server start: whatever was queued or streaming belonged to
 * the process before this one. Its partial output (flushed while streaming) stays, marked interrupted.
 */
export async function markUnfinishedInterrupted({ db }: { db: Db }): Promise<number> {
  const rows = await db
    .update(generations)
    .set({ status: "interrupted", error: "the server stopped while this was streaming", finishedAt: new Date() })
    .where(inArray(generations.status, ["queued", "streaming"]))
    .returning({ id: generations.id });
  return rows.length;
}

/**
 * Shared databases (several web servers): marks interrupted only the unfinished generations of
 * instances whose lease ran out (a killed server, or this one's previous process), and rows from
 * before instances existed; a live peer's streams are left alone. Expired instances are dropped.
 */
export async function recoverExpiredInstances({ db }: { db: Db }): Promise<number> {
  const rows = await db
    .update(generations)
    .set({ status: "interrupted", error: "the server stopped while this was streaming", finishedAt: new Date() })
    .where(
      and(
        inArray(generations.status, ["queued", "streaming"]),
        or(
          sql`${generations.instanceId} is null`,
          sql`not exists (select 1 from ${webInstances} where ${webInstances.id} = ${generations.instanceId} and ${webInstances.leaseUntil} > now())`,
        ),
      ),
    )
    .returning({ id: generations.id });
  await db.delete(webInstances).where(sql`${webInstances.leaseUntil} <= now()`);
  return rows.length;
}

/** A server's previous process, known dead (its pid is gone): its unfinished rows are marked at once, without waiting for its lease. */
export async function recoverInstance({ db, id }: { db: Db; id: string }): Promise<number> {
  const rows = await db
    .update(generations)
    .set({ status: "interrupted", error: "the server stopped while this was streaming", finishedAt: new Date() })
    .where(and(inArray(generations.status, ["queued", "streaming"]), eq(generations.instanceId, id)))
    .returning({ id: generations.id });
  await db.delete(webInstances).where(eq(webInstances.id, id));
  return rows.length;
}

/** Takes or renews this process's lease for `ttlMs` from now (the database's clock, so servers' clocks may differ). */
export async function renewInstanceLease({ db, id, ttlMs }: { db: Db; id: string; ttlMs: number }): Promise<void> {
  const until = sql`now() + make_interval(secs => ${ttlMs / 1000})`;
  await db.insert(webInstances).values({ id, leaseUntil: until }).onConflictDoUpdate({ target: webInstances.id, set: { leaseUntil: until } });
}

/** A clean shutdown gives the lease back (its streams were already saved as interrupted). */
export async function dropInstance({ db, id }: { db: Db; id: string }): Promise<void> {
  await db.delete(webInstances).where(eq(webInstances.id, id));
}

/** Is this instance's lease still running? */
export async function instanceAlive({ db, id }: { db: Db; id: string }): Promise<boolean> {
  const rows = await db
    .select({ id: webInstances.id })
    .from(webInstances)
    .where(and(eq(webInstances.id, id), sql`${webInstances.leaseUntil} > now()`));
  return rows.length > 0;
}

/** The web servers whose lease is running (a run with no row of its own, an arena battle's, is on one of them). */
export async function liveInstances({ db }: { db: Db }): Promise<string[]> {
  const rows = await db.select({ id: webInstances.id }).from(webInstances).where(sql`${webInstances.leaseUntil} > now()`);
  return rows.map((r) => r.id);
}

/** A run's generations (this owner's), pane order: how a server that did not start the run finds it. */
export async function runGenerations({ db, ownerId, runId }: { db: Db; ownerId: string; runId: string }): Promise<Generation[]> {
  return db
    .select()
    .from(generations)
    .where(and(eq(generations.runId, runId), eq(generations.ownerId, ownerId)))
    .orderBy(asc(generations.pane));
}

export interface ChatListItem {
  id: string;
  kind: ChatKind;
  title: string;
  adapters: (string | null)[];
  updatedAt: Date;
  createdAt: Date;
}

/** Newest first; `search` matches the title or any prompt or output of the chat. */
export async function listChats({
  db,
  ownerId,
  search,
  limit = 200,
}: {
  db: Db;
  ownerId: string;
  search?: string;
  limit?: number;
}): Promise<ChatListItem[]> {
  const term = search?.trim();
  const pattern = term ? `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const where = pattern
    ? and(
        eq(chats.ownerId, ownerId),
        or(
          ilike(chats.title, pattern),
          sql`exists (select 1 from ${chatMessages} where ${chatMessages.chatId} = ${chats.id} and ${chatMessages.content} ilike ${pattern})`,
          sql`exists (select 1 from ${generations} where ${generations.chatId} = ${chats.id} and ${generations.output} ilike ${pattern})`,
        ),
      )
    : eq(chats.ownerId, ownerId);
  const rows = await db
    .select({
      id: chats.id,
      kind: chats.kind,
      title: chats.title,
      settings: chats.settings,
      updatedAt: chats.updatedAt,
      createdAt: chats.createdAt,
    })
    .from(chats)
    .where(where)
    .orderBy(desc(chats.updatedAt), desc(chats.id))
    .limit(limit);
  return rows.map(({ settings, ...r }) => ({ ...r, adapters: settings.adapters }));
}

export interface ChatDetail {
  chat: Chat;
  messages: ChatMessage[];
  generations: Generation[];
}

export async function getChat({ db, ownerId, id }: { db: Db; ownerId: string; id: string }): Promise<ChatDetail | null> {
  const [chat] = await db
    .select()
    .from(chats)
    .where(and(eq(chats.id, id), eq(chats.ownerId, ownerId)));
  if (!chat) return null;
  const messages = await db.select().from(chatMessages).where(eq(chatMessages.chatId, id)).orderBy(asc(chatMessages.turn));
  const gens = await db
    .select()
    .from(generations)
    .where(eq(generations.chatId, id))
    .orderBy(asc(generations.turn), asc(generations.pane), asc(generations.createdAt));
  return { chat, messages, generations: gens };
}

export async function getGeneration({ db, ownerId, id }: { db: Db; ownerId: string; id: string }) {
  const [row] = await db
    .select()
    .from(generations)
    .where(and(eq(generations.id, id), eq(generations.ownerId, ownerId)));
  return row ?? null;
}

export async function renameChat({ db, ownerId, id, title }: { db: Db; ownerId: string; id: string; title: string }) {
  const rows = await db
    .update(chats)
    .set({ title, updatedAt: new Date() })
    .where(and(eq(chats.id, id), eq(chats.ownerId, ownerId)))
    .returning({ id: chats.id });
  if (rows.length === 0) throw new ChatNotFoundError(id);
}

export async function deleteChat({ db, ownerId, id }: { db: Db; ownerId: string; id: string }) {
  const rows = await db
    .delete(chats)
    .where(and(eq(chats.id, id), eq(chats.ownerId, ownerId)))
    .returning({ id: chats.id });
  if (rows.length === 0) throw new ChatNotFoundError(id);
}

/** "Clear all": every chat of this owner (their turns and generations go with them); returns how many. */
export async function deleteAllChats({ db, ownerId }: { db: Db; ownerId: string }): Promise<number> {
  const rows = await db.delete(chats).where(eq(chats.ownerId, ownerId)).returning({ id: chats.id });
  return rows.length;
}

export class ChatNotFoundError extends LoraLandError {
  constructor(id: string) {
    super("NOT_FOUND", `chat ${id} not found`);
    this.name = "ChatNotFoundError";
  }
}
