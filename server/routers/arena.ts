/**
 * The arena: `start` mints a blind battle (the server picks two models of a task and their panes),
 * `stream` relays it with nothing that could name a model (from another web server on the same
 * Postgres too, as generate.stream does), `vote` records the owner's one vote, stops the run
 * wherever it streams and only then reveals the names, `leaderboard` is the task's Bradley–Terry standings. Generation
 * goes through generate's hub and limits (2 streams per battle). Errors are thrown as they are
 * (LoraLandError and the hub's), mapped to tRPC once by server/trpc.ts.
 */
import { randomInt, randomUUID } from "node:crypto";
import { tracked } from "@trpc/server";
import { z } from "zod";
import { ARENA_VOTES } from "../../db/schema/arena";
import type { GenerationParams } from "../../db/schema/chats";
import { renderTemplate, TemplateError } from "../../components/playground/template";
import { arenaTasks, BASE_KEY, baseLabel, pickPair, type ArenaTask } from "../arena/tasks";
import { bradleyTerry, type Game } from "../arena/ratings";
import { BattleNotFoundError, castVote, createBattle, getBattle, votedBattles } from "../db-queries/arena";
import { instanceAlive, liveInstances } from "../db-queries/chats";
import { listCatalogAdapters } from "../db-queries/catalog";
import { inferenceUrl, type Env } from "../env";
import type { Db } from "../../db/client";
import { workerStatus } from "../inference/client";
import type { WatchOutcome } from "../inference/run-relay";
import type { PaneStats, RunChunk } from "../inference/stream-hub";
import { RunNotFoundError } from "../inference/stream-hub";
import { LoraLandError } from "../errors";
import { createTRPCRouter, mutationProcedure, ownerProcedure, publicProcedure } from "../trpc";
import { generateLimits, getHub, getRelay, startInput } from "./generate";

const battleId = z.string().uuid("battleId must be a UUID");
const taskKey = z.string().min(1, "task is empty").max(256, "task is too long");

/** Greedy, with a length that fits the task's metric (as the playground's defaults). */
export function arenaParams(metricName: string): GenerationParams {
  const max = /accuracy/.test(metricName) ? 8 : /json/.test(metricName) ? 96 : 64;
  return { max_new_tokens: max, temperature: 0, top_p: 1, top_k: 0, repetition_penalty: 1 };
}

async function loadTasks(db: Db, env: Env) {
  const [rows, worker] = await Promise.all([listCatalogAdapters(db), workerStatus(inferenceUrl(env), env.INFERENCE_PROTOCOL)]);
  return { rows, worker, tasks: arenaTasks(rows, worker) };
}

const NO_STATS: PaneStats = { queueMs: null, ttftMs: null, totalMs: null, tokensIn: null, tokensOut: 0, tokensPerSecond: null };

/**
 * A chunk as a blind pane may see it: text and status only. Timings, log-probabilities and the
 * worker's error text (it can name the adapter) could tell the models apart, so they are dropped.
 */
export function blind(chunk: RunChunk): RunChunk | null {
  switch (chunk.kind) {
    case "status":
      return chunk;
    case "token":
      return { pane: chunk.pane, kind: "token", id: chunk.id, text: chunk.text, logprob: null, special: chunk.special, at: 0 };
    case "stats":
      return null;
    case "end":
      return {
        pane: chunk.pane,
        kind: "end",
        status: chunk.status,
        finishReason: chunk.finishReason,
        error: chunk.error === null ? null : "this model could not answer (the reason is shown after your vote)",
        errorStatus: null,
        output: chunk.output,
        stats: { ...NO_STATS, tokensOut: chunk.stats.tokensOut },
      };
  }
}

/** Contestant names for a battle's panes (also for adapters since removed from the catalog). */
function names(task: ArenaTask | undefined, labels: Map<string, string>, base: string, a: string | null, b: string | null) {
  const name = (m: string | null) => (m === null ? base : (task?.contestants.find((c) => c.key === m)?.label ?? labels.get(m) ?? m));
  return { a: { model: a ?? BASE_KEY, label: name(a) }, b: { model: b ?? BASE_KEY, label: name(b) } };
}

/**
 * A battle's run that another web server on this Postgres holds (the browser's reconnect landed
 * here): its events from `from`, relayed by whichever live server has it (run-relay.ts). A battle
 * has no rows to finish from, so a run that no live server holds (or whose server died) is not
 * found. (An end too long for a notification would come with an empty output: a battle's answers
 * are at most 96 tokens, far below.)
 */
async function* relayedRun(db: Db, env: Env, runId: string, from: number, signal?: AbortSignal): AsyncGenerator<[number, RunChunk]> {
  const relay = await getRelay(db, env);
  if (relay) {
    for (const instance of await liveInstances({ db })) {
      if (instance === relay.instanceId) continue;
      const outcome: { value: WatchOutcome } = { value: "aborted" };
      let relayed = false;
      const watch = relay.watch({ runId, ownerInstance: instance, from, signal, outcome, ownerAlive: () => instanceAlive({ db, id: instance }), storedOutput: async () => "" });
      for await (const event of watch) {
        relayed = true;
        yield event;
      }
      if (outcome.value === "finished" || outcome.value === "aborted" || relayed) break;
      // "none": not this server's run; "dead" before a word: try the next
    }
  }
  throw new RunNotFoundError(runId);
}

export const arenaRouter = createTRPCRouter({
  /** tasks the arena can run now, with their inputs and who plays (names are public; panes are not) */
  tasks: publicProcedure.query(async ({ ctx }) => {
    const { tasks } = await loadTasks(ctx.db, ctx.env);
    return tasks.map((t) => ({ ...t, contestants: t.contestants.map((c) => ({ model: c.key, label: c.label })) }));
  }),

  start: mutationProcedure
    .input(z.object({ task: taskKey, inputs: startInput.shape.inputs }))
    .mutation(async ({ ctx, input }) => {
      const { tasks, worker } = await loadTasks(ctx.db, ctx.env);
      const task = tasks.find((t) => t.key === input.task);
      if (!task) throw new LoraLandError("NOT_FOUND", `task "${input.task}" has no adapter this worker can run`);
      const [a, b] = pickPair(task.contestants, () => randomInt(2 ** 32) / 2 ** 32);
      const inputs = input.inputs ?? {};
      let prompts: string[];
      try {
        prompts = [a, b].map((c) => renderTemplate(c.template, inputs));
      } catch (e) {
        if (e instanceof TemplateError) throw new LoraLandError("BAD_REQUEST", `inputs: ${e.message}`, { cause: e });
        throw e;
      }
      const params = arenaParams(task.metricName);
      const leases = generateLimits().admit(ctx.ownerId, 2, ctx.clientAddress);
      try {
        const hub = await getHub(ctx.db, ctx.env);
        const id = randomUUID();
        const runId = randomUUID();
        const modelOf = (c: typeof a) => (c.key === BASE_KEY ? null : c.key);
        const stored = createBattle({
          db: ctx.db,
          battle: { id, ownerId: ctx.ownerId, task: task.key, modelA: modelOf(a), modelB: modelOf(b), baseModelId: worker.modelId ?? "", runId, inputs, params },
        });
        // generation ids that no history row has: the hub's saves touch nothing, so the battle
        // never shows in the history (which would name the models)
        hub.start(
          ctx.ownerId,
          [a, b].map((c, i) => ({ generationId: randomUUID(), lease: leases[i], request: { prompt: prompts[i]!, adapterId: c.adapterId, params } })),
          stored,
          runId,
        );
        await stored;
        return { battleId: id, task: task.key };
      } catch (e) {
        for (const l of leases) l.release();
        throw e;
      }
    }),

  /** The battle's two panes (0 = A, 1 = B), blind: see `blind`. */
  stream: ownerProcedure
    .input(z.object({ battleId, lastEventId: z.string().nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      const battle = await getBattle({ db: ctx.db, ownerId: ctx.ownerId, id: input.battleId });
      if (!battle) throw new BattleNotFoundError(input.battleId);
      const hub = await getHub(ctx.db, ctx.env);
      const from = input.lastEventId != null && /^\d+$/.test(input.lastEventId) ? Number(input.lastEventId) + 1 : 0;
      const events = hub.has(battle.runId, ctx.ownerId) ? hub.subscribe(battle.runId, ctx.ownerId, from, signal) : relayedRun(ctx.db, ctx.env, battle.runId, from, signal);
      for await (const [index, chunk] of events) {
        const seen = blind(chunk);
        if (seen) yield tracked(String(index), seen);
      }
    }),

  /** One vote per battle; the answer names both panes' models. */
  vote: mutationProcedure
    .input(z.object({ battleId, vote: z.enum(ARENA_VOTES, { error: `vote must be one of ${ARENA_VOTES.join(", ")}` }) }))
    .mutation(async ({ ctx, input }) => {
      const battle = await castVote({ db: ctx.db, ownerId: ctx.ownerId, id: input.battleId, vote: input.vote });
      // a vote cast before the answers ended stops them: the battle is decided
      const hub = await getHub(ctx.db, ctx.env);
      if (!hub.stop(battle.runId, ctx.ownerId)) {
        // started on another web server (Postgres): the server that holds it stops it, the others ignore it
        const relay = await getRelay(ctx.db, ctx.env);
        if (relay) {
          const others = (await liveInstances({ db: ctx.db })).filter((id) => id !== relay.instanceId);
          await Promise.all(others.map((id) => relay.stop(id, battle.runId, ctx.ownerId)));
        }
      }
      const { tasks, rows, worker } = await loadTasks(ctx.db, ctx.env);
      const labels = new Map(rows.map((r) => [r.slug, r.displayName]));
      return { vote: battle.vote!, task: battle.task, ...names(tasks.find((t) => t.key === battle.task), labels, baseLabel(worker), battle.modelA, battle.modelB) };
    }),

  /** Bradley–Terry standings of a task's adapters and the base model (every one that plays, or played). */
  leaderboard: publicProcedure.input(z.object({ task: taskKey })).query(async ({ ctx, input }) => {
    const [{ tasks, rows, worker }, battles] = await Promise.all([loadTasks(ctx.db, ctx.env), votedBattles({ db: ctx.db, task: input.task })]);
    const task = tasks.find((t) => t.key === input.task);
    const games: Game[] = battles.map((b) => ({ a: b.modelA ?? BASE_KEY, b: b.modelB ?? BASE_KEY, outcome: b.vote! }));
    const labels = new Map(rows.map((r) => [r.slug, r.displayName]));
    const label = (m: string) => (m === BASE_KEY ? baseLabel(worker) : (labels.get(m) ?? m));
    const standings = bradleyTerry(games, task?.contestants.map((c) => c.key) ?? []);
    return { task: input.task, votes: games.length, standings: standings.map((s) => ({ ...s, label: label(s.model) })) };
  }),
});
