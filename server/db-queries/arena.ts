/**
 * Arena queries: a battle is written when it is minted; the vote is one conditional update, so two
 * votes on one battle (two tabs, a replay) cannot both count.
 */
import { and, asc, eq, isNotNull, isNull } from "drizzle-orm";
import type { Db } from "../../db/client";
import { arenaBattles, type ArenaVote } from "../../db/schema/arena";
import type { GenerationParams } from "../../db/schema/chats";
import { LoraLandError } from "../errors";

export type BattleRow = typeof arenaBattles.$inferSelect;

export class BattleNotFoundError extends LoraLandError {
  constructor(id: string) {
    super("NOT_FOUND", `battle ${id} not found (or not yours)`);
    this.name = "BattleNotFoundError";
  }
}

export class AlreadyVotedError extends LoraLandError {
  constructor(readonly battle: BattleRow) {
    super("CONFLICT", `battle ${battle.id} already has its vote (one vote per battle)`);
    this.name = "AlreadyVotedError";
  }
}

export async function createBattle({
  db,
  battle,
}: {
  db: Db;
  battle: {
    id: string;
    ownerId: string;
    task: string;
    modelA: string | null;
    modelB: string | null;
    baseModelId: string;
    runId: string;
    inputs: Record<string, string>;
    params: GenerationParams;
  };
}): Promise<void> {
  await db.insert(arenaBattles).values(battle);
}

/** The owner's battle; someone else's is as absent as an unknown one. */
export async function getBattle({ db, ownerId, id }: { db: Db; ownerId: string; id: string }): Promise<BattleRow | null> {
  const [row] = await db
    .select()
    .from(arenaBattles)
    .where(and(eq(arenaBattles.id, id), eq(arenaBattles.ownerId, ownerId)))
    .limit(1);
  return row ?? null;
}

/** Records the vote once: BattleNotFoundError (unknown or another owner's), AlreadyVotedError. */
export async function castVote({ db, ownerId, id, vote }: { db: Db; ownerId: string; id: string; vote: ArenaVote }): Promise<BattleRow> {
  const [row] = await db
    .update(arenaBattles)
    .set({ vote, votedAt: new Date() })
    .where(and(eq(arenaBattles.id, id), eq(arenaBattles.ownerId, ownerId), isNull(arenaBattles.vote)))
    .returning();
  if (row) return row;
  const existing = await getBattle({ db, ownerId, id });
  if (!existing) throw new BattleNotFoundError(id);
  throw new AlreadyVotedError(existing);
}

/** Every voted battle of a task, oldest first: the games its leaderboard is fitted to. */
export async function votedBattles({ db, task }: { db: Db; task: string }): Promise<Pick<BattleRow, "modelA" | "modelB" | "vote">[]> {
  return db
    .select({ modelA: arenaBattles.modelA, modelB: arenaBattles.modelB, vote: arenaBattles.vote })
    .from(arenaBattles)
    .where(and(eq(arenaBattles.task, task), isNotNull(arenaBattles.vote)))
    .orderBy(asc(arenaBattles.votedAt));
}
