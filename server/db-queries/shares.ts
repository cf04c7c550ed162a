/**
 * Share links: a frozen copy of a chat under a short unguessable slug. The snapshot is written
 * once and never updated; revoking only sets `revokedAt` (the page then answers 410).
 */
import { randomInt } from "node:crypto";
import { and, desc, eq, isNull } from "drizzle-orm";
import { shares, type ShareSnapshot } from "../../db/schema/chats";
import { getChat, ChatNotFoundError, type Db } from "./chats";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 12 base62 characters from the CSPRNG: ~71 bits, unguessable */
export const SLUG_LENGTH = 12;

export function newSlug(length = SLUG_LENGTH): string {
  let s = "";
  for (let i = 0; i < length; i++) s += BASE62[randomInt(62)];
  return s;
}

export function isSlug(s: string): boolean {
  return /^[0-9A-Za-z]{10,32}$/.test(s);
}

export type Share = typeof shares.$inferSelect;

/** Freezes the owner's chat as it is now (unfinished panes keep their partial output and status). */
export async function createShare({ db, ownerId, chatId }: { db: Db; ownerId: string; chatId: string }): Promise<Share> {
  const detail = await getChat({ db, ownerId, id: chatId });
  if (!detail) throw new ChatNotFoundError(chatId);
  const { chat, messages, generations } = detail;
  const snapshot: ShareSnapshot = {
    version: 1,
    kind: chat.kind,
    settings: chat.settings,
    turns: messages.map((m) => ({
      prompt: m.content,
      inputs: m.inputs ?? null,
      panes: generations
        .filter((g) => g.turn === m.turn)
        .map((g) => ({
          adapterId: g.adapterId,
          output: g.output,
          status: g.status,
          finishReason: g.finishReason,
          error: g.error,
          stats: {
            queueMs: g.queueMs,
            ttftMs: g.ttftMs,
            totalMs: g.totalMs,
            tokensIn: g.tokensIn,
            tokensOut: g.tokensOut,
            tokensPerSecond: g.tokensPerSecond,
          },
        })),
    })),
    createdAt: new Date().toISOString(),
  };
  const models = chat.settings.adapters.map((a) => a ?? "base model").join(" vs ");
  const firstOutput = generations.find((g) => g.output.trim() !== "")?.output.trim() ?? "";
  const description = `${models}: ${firstOutput || messages[0]?.content.trim() || ""}`.slice(0, 200);
  // a collision of 71 random bits is not expected; retry once on the primary key anyway
  for (let attempt = 0; ; attempt++) {
    try {
      const [row] = await db
        .insert(shares)
        .values({ slug: newSlug(), ownerId, chatId, title: chat.title, description, snapshot })
        .returning();
      return row!;
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
}

export type ShareLookup = { state: "ok"; share: Share } | { state: "revoked" } | { state: "missing" };

/** Public: anyone with the slug may read a live share. */
export async function getShare({ db, slug }: { db: Db; slug: string }): Promise<ShareLookup> {
  if (!isSlug(slug)) return { state: "missing" };
  const [row] = await db.select().from(shares).where(eq(shares.slug, slug));
  if (!row) return { state: "missing" };
  if (row.revokedAt) return { state: "revoked" };
  return { state: "ok", share: row };
}

export async function revokeShare({ db, ownerId, slug }: { db: Db; ownerId: string; slug: string }): Promise<boolean> {
  const rows = await db
    .update(shares)
    .set({ revokedAt: new Date() })
    .where(and(eq(shares.slug, slug), eq(shares.ownerId, ownerId), isNull(shares.revokedAt)))
    .returning({ slug: shares.slug });
  return rows.length > 0;
}

export async function listShares({ db, ownerId, chatId }: { db: Db; ownerId: string; chatId?: string }) {
  return db
    .select({ slug: shares.slug, title: shares.title, chatId: shares.chatId, createdAt: shares.createdAt, revokedAt: shares.revokedAt })
    .from(shares)
    .where(chatId ? and(eq(shares.ownerId, ownerId), eq(shares.chatId, chatId)) : eq(shares.ownerId, ownerId))
    .orderBy(desc(shares.createdAt));
}
