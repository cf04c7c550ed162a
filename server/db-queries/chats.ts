/**
 * History queries: chats, their turns and generations. Every read and write is scoped by owner.
 * Small functions taking one object argument; the db handle is passed in so the same queries run
 * on PGlite and postgres.js (and in tests on a throwaway database).
 */
import { randomUUID } from "node:crypto";
import { and, asc, desc, eq, ilike, inArray, or, sql } from "drizzle-orm";
import type { PgDatabase } from "drizzle-orm/pg-core";
import {
  chatMessages,
  chats,
  generations,
  type ChatKind,
  type ChatSettings,
  type GenerationParams,
  type GenerationStatus,
  type PromptMode,
  type StoredToken,
} from "../../db/schema/chats";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = PgDatabase<any, any, any>;

export type Chat = typeof chats.$inferSelect;
export type ChatMessage = typeof chatMessages.$inferSelect;
export type Generation = typeof generations.$inferSelect;

/** First line of the prompt, shortened: the default title of a new chat. */
export function titleFromPrompt(prompt: string): string {
  const line = prompt.trim().split("\n").find((l) => l.trim() !== "") ?? "Untitled";
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

export async function updateGeneration({ db, id, patch }: { db: Db; id: string; patch: GenerationPatch }) {
  await db.update(generations).set(patch).where(eq(generations.id, id));
}

/**
 * At server start: whatever was queued or streaming belonged to a process that is gone.
 * Its partial output (flushed while streaming) stays, marked interrupted.
 */
export async function markUnfinishedInterrupted({ db }: { db: Db }): Promise<number> {
  const rows = await db
    .update(generations)
    .set({ status: "interrupted", error: "the server stopped while this was streaming", finishedAt: new Date() })
    .where(inArray(generations.status, ["queued", "streaming"]))
    .returning({ id: generations.id });
  return rows.length;
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

export class ChatNotFoundError extends Error {
  readonly code = "chat:not_found";
  constructor(id: string) {
    super(`chat ${id} not found`);
    this.name = "ChatNotFoundError";
  }
}
