/**
 * Generation: `start` stores the turn and starts every pane's worker stream; `stream` is the
 * tRPC subscription (SSE) relaying them, each event `tracked` by its index in the run so a
 * reconnect resumes from `lastEventId` — on this server, or on another one sharing the Postgres
 * (the run's server relays it, server/inference/run-relay.ts); `stop` cancels; `tokenCount` asks
 * the worker's tokenizer. Errors are thrown as they are: server/trpc.ts maps them once.
 */
import { randomUUID } from "node:crypto";
import { tracked, TRPCError } from "@trpc/server";
import { z } from "zod";
import type { Db } from "../../db/client";
import type { GenerationParams } from "../../db/schema/chats";
import {
  getChat,
  instanceAlive,
  recoverExpiredInstances,
  runGenerations,
  startRun,
  titleFromPrompt,
  updateGeneration,
  ChatNotFoundError,
  type Generation,
} from "../db-queries/chats";
import { REQUEST_LIMITS as R } from "../../inference/request-limits";
import { paneModelSchema, paneTarget, responseFormatSchema } from "./generate-options";
import { inferenceUrl, type Env } from "../env";
import { envTarget, workerLimits } from "../inference/client";
import { ensureCatalogHubAdapters } from "../inference/hub-adapters";
import { RunRelay, type NotifyClient, type WatchOutcome } from "../inference/run-relay";
import { StreamHub, RunIdTakenError, RunNotFoundError, type RunChunk } from "../inference/stream-hub";
import { countTokens, WorkerError, type ChatTurn } from "../inference/stream";
import { OwnerLimits } from "../limits";
import { thisInstance } from "../recover";
import { createTRPCRouter, mutationProcedure, ownerProcedure, publicProcedure } from "../trpc";

/**
 * The web's own bounds (panes, prompt and inputs as stored with the chat). The request's bounds
 * that the worker validates too come from inference/request-limits.ts (R), so the two agree; a
 * worker's configured limits (max_new_tokens, ...) are checked from its /info (checkWorkerLimits).
 */
export const LIMITS = {
  maxPanes: 6,
  maxPromptChars: 32_000,
  maxNewTokens: 2048,
  /** template inputs: columns, and characters of all names and values together (they are stored with the chat) */
  maxInputColumns: 32,
  maxInputChars: 32_000,
};

export const paramsSchema = z.object({
  temperature: z.number().min(0, "temperature must be ≥ 0").max(R.temperature, `temperature must be ≤ ${R.temperature}`).optional(),
  top_p: z.number().gt(0, "top_p must be > 0").max(1, "top_p must be ≤ 1").optional(),
  top_k: z.number().int("top_k must be an integer").min(0, "top_k must be ≥ 0").max(R.topK, `top_k must be ≤ ${R.topK}`).optional(),
  max_new_tokens: z
    .number()
    .int("max_new_tokens must be an integer")
    .min(1, "max_new_tokens must be ≥ 1")
    .max(LIMITS.maxNewTokens, `max_new_tokens must be ≤ ${LIMITS.maxNewTokens}`),
  repetition_penalty: z.number().gt(0, "repetition_penalty must be > 0").max(R.repetitionPenalty, `repetition_penalty must be ≤ ${R.repetitionPenalty}`).optional(),
  stop: z
    .array(z.string().min(1, "a stop sequence is empty").max(R.stopChars, `a stop sequence is longer than ${R.stopChars} characters`))
    .max(R.stopSequences, `at most ${R.stopSequences} stop sequences`)
    .optional(),
  ignore_eos: z.boolean().optional(),
  seed: z.number().int("seed must be an integer").min(0, "seed must be ≥ 0").max(R.seed, `seed must be ≤ ${R.seed}`).optional(),
  response_format: responseFormatSchema.optional(),
}) satisfies z.ZodType<GenerationParams>;

export const startInput = z.object({
  /** continue this chat (chat mode: the next turn); absent = a new history entry */
  chatId: z.string().uuid("chatId must be a UUID").optional(),
  mode: z.enum(["template", "raw", "chat"]),
  /** one per pane, null = base model, or {merged_adapters} (a merge of adapters, generate-options.ts) */
  adapters: z.array(paneModelSchema).min(1, "at least one model").max(LIMITS.maxPanes, `at most ${LIMITS.maxPanes} panes`),
  /** the rendered template, the raw prompt, or the new chat message */
  prompt: z.string().min(1, "prompt is empty").max(LIMITS.maxPromptChars, `prompt is longer than ${LIMITS.maxPromptChars} characters`),
  /** compare in template mode: one prompt per pane (each adapter's own template), same length as adapters */
  prompts: z
    .array(z.string().min(1, "a pane's prompt is empty").max(LIMITS.maxPromptChars, `a pane's prompt is longer than ${LIMITS.maxPromptChars} characters`))
    .max(LIMITS.maxPanes, `at most ${LIMITS.maxPanes} prompts`)
    .optional(),
  inputs: z
    .record(z.string().max(200, "an input column name is longer than 200 characters"), z.string().max(LIMITS.maxInputChars))
    .refine((r) => Object.keys(r).length <= LIMITS.maxInputColumns, `at most ${LIMITS.maxInputColumns} input columns`)
    .refine(
      (r) => Object.entries(r).reduce((n, [k, v]) => n + k.length + v.length, 0) <= LIMITS.maxInputChars,
      `inputs are longer than ${LIMITS.maxInputChars} characters in all`,
    )
    .optional(),
  params: paramsSchema,
  /** chat mode: a system prompt for a new chat (kept in its settings for the turns after) */
  system: z.string().max(LIMITS.maxPromptChars, `system is longer than ${LIMITS.maxPromptChars} characters`).optional(),
  /** top alternatives per token for the logprob view */
  alternatives: z.number().int().min(0).max(R.alternatives, `alternatives must be ≤ ${R.alternatives}`).optional(),
  /** the run's id, chosen by the browser so it can open the subscription while this call is in flight */
  runId: z.string().uuid("runId must be a UUID").optional(),
});

/**
 * On PGlite (no DATABASE_URL) a new run's rows are written once its first token has gone out,
 * or after this long, whichever comes first: the embedded database runs its statements on this
 * thread (~14 ms for a run's rows on a 2-core VM), and written at once they held up the worker's
 * answer and the first token's relay. On Postgres they are written at once.
 */
const PGLITE_ROWS_AFTER_MS = 100;

/** How long a subscription opened ahead of its `start` waits for the run to begin. */
const AWAIT_START_MS = 30_000;
/** Postgres: how often such a subscription looks for the run's rows (its start may have reached another server). */
const AWAIT_POLL_MS = 250;

/**
 * A run that no server holds any more, from its rows: each pane's end as stored (a row still
 * unfinished is reported interrupted: nobody streams it now).
 */
function storedEnds(rows: Generation[]): RunChunk[] {
  return rows.map((r) => {
    const finished = r.status !== "queued" && r.status !== "streaming";
    return {
      pane: r.pane,
      kind: "end",
      status: finished ? (r.status as Exclude<Generation["status"], "queued" | "streaming">) : "interrupted",
      finishReason: r.finishReason,
      error: finished ? r.error : "the server stopped while this was streaming",
      errorStatus: null,
      output: r.output,
      stats: { queueMs: r.queueMs, ttftMs: r.ttftMs, totalMs: r.totalMs, tokensIn: r.tokensIn, tokensOut: r.tokensOut ?? 0, tokensPerSecond: r.tokensPerSecond },
    };
  });
}

// ── process-wide state: the hub (live runs), the relay to other servers, and the limits ──────
interface Streaming {
  hub: StreamHub;
  /** this process's instance id (Postgres); null on PGlite */
  instanceId: string | null;
  /** other web servers on the same Postgres; null on PGlite (one process) */
  relay: RunRelay | null;
}
type Global = typeof globalThis & { __loralandHub?: Promise<Streaming>; __loralandLimits?: OwnerLimits };
const g = globalThis as Global;

export function generateLimits(): OwnerLimits {
  return (g.__loralandLimits ??= new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 60, addressRequestsPerMinute: 240 }));
}

/** Tests replace the limits (e.g. to see 429 without 60 requests). */
export function setGenerateLimits(limits: OwnerLimits) {
  g.__loralandLimits = limits;
}

/**
 * The hub of this process. Created once; first registers this process (server/recover.ts: its
 * lease on Postgres) and marks interrupted what a gone process left streaming (its partial
 * output was flushed while it streamed). On Postgres it also listens for other servers asking
 * for the runs it holds.
 */
function streaming(db: Db, env: Env): Promise<Streaming> {
  g.__loralandHub ??= (async () => {
    const me = await thisInstance(db, env.DATA_DIR);
    // the worker, with the idle timeout of WORKER_IDLE_TIMEOUT_S (server/inference/client.ts)
    const target = await envTarget(env);
    const hub = new StreamHub({
      target: () => target,
      persist: (id, patch) => updateGeneration({ db, id, patch }),
      onError: (e) => console.error("stream hub: saving a generation failed:", e),
    });
    let relay: RunRelay | null = null;
    if (me.id) {
      relay = new RunRelay((db as unknown as { $client: NotifyClient }).$client, me.id, hub);
      await relay.start();
    }
    return { hub, instanceId: me.id, relay };
  })().catch((e) => {
    g.__loralandHub = undefined;
    throw e;
  });
  return g.__loralandHub;
}

export async function getHub(db: Db, env: Env): Promise<StreamHub> {
  return (await streaming(db, env)).hub;
}

/** The relay to the other web servers on this Postgres; null on PGlite (one process). */
export async function getRelay(db: Db, env: Env): Promise<RunRelay | null> {
  return (await streaming(db, env)).relay;
}

/**
 * The worker's own limits (its /info as the client last saw it: no probe on the TTFT path), so a
 * request it would refuse fails here with the field named. Unknown limits pass.
 */
async function checkWorkerLimits(env: Env, input: z.infer<typeof startInput>) {
  const { maxNewTokens: maxNew, maxStopSequences: maxStop } = await workerLimits(inferenceUrl(env), env.INFERENCE_PROTOCOL);
  if (maxNew !== null && input.params.max_new_tokens > maxNew)
    throw new TRPCError({ code: "BAD_REQUEST", message: `params.max_new_tokens must be ≤ ${maxNew} (this worker's limit)` });
  if (maxStop !== null && (input.params.stop?.length ?? 0) > maxStop)
    throw new TRPCError({ code: "BAD_REQUEST", message: `params.stop: at most ${maxStop} stop sequences (this worker's limit)` });
}

/** Chat mode: earlier turns (the user's messages and pane 0's answers) plus the new message. */
async function chatHistory(db: Db, ownerId: string, chatId: string, message: string): Promise<ChatTurn[]> {
  const detail = await getChat({ db, ownerId, id: chatId });
  if (!detail) throw new ChatNotFoundError(chatId);
  const turns: ChatTurn[] = [];
  for (const m of detail.messages) {
    turns.push({ role: m.role, content: m.content });
    const answer = detail.generations.find((x) => x.turn === m.turn && x.pane === 0);
    if (answer?.output) turns.push({ role: "assistant", content: answer.output });
  }
  turns.push({ role: "user", content: message });
  return withSystem(turns, detail.chat.settings.system);
}

/**
 * A chat's system prompt, folded into its first user message (as Hugging Face chat-ui does for
 * such models): many chat templates, Mistral's [INST] one among them, refuse a "system" role.
 */
function withSystem(turns: ChatTurn[], system: string | undefined): ChatTurn[] {
  if (!system) return turns;
  const first = turns.findIndex((t) => t.role === "user");
  return turns.map((t, i) => (i === first ? { ...t, content: `${system}\n\n${t.content}` } : t));
}


export const generateRouter = createTRPCRouter({
  /** token count of a prompt by the worker's tokenizer; null (with why) when the worker can't say */
  tokenCount: publicProcedure
    .input(z.object({ text: z.string().max(LIMITS.maxPromptChars, `text is longer than ${LIMITS.maxPromptChars} characters`) }))
    .query(async ({ ctx, input, signal }) => {
      try {
        return { tokens: await countTokens(await envTarget(ctx.env), input.text, signal), error: null };
      } catch (e) {
        return { tokens: null, error: e instanceof WorkerError ? e.message : String(e) };
      }
    }),

  start: mutationProcedure.input(startInput).mutation(async ({ ctx, input }) => {
    if (input.prompts && input.prompts.length !== input.adapters.length)
      throw new TRPCError({ code: "BAD_REQUEST", message: `prompts: one per pane (${input.adapters.length} adapters, ${input.prompts.length} prompts)` });
    if (input.system?.trim() && input.mode !== "chat") throw new TRPCError({ code: "BAD_REQUEST", message: "system: a system prompt needs chat mode" });
    if (input.system?.trim() && input.chatId) throw new TRPCError({ code: "BAD_REQUEST", message: "system: set when a chat starts (its later turns keep it)" });
    await checkWorkerLimits(ctx.env, input);
    const targets = input.adapters.map(paneTarget);
    const merged = targets.findIndex((t) => t.mergedAdapters);
    if (merged >= 0 && (input.mode === "chat" || ctx.env.INFERENCE_PROTOCOL !== "lorax"))
      throw new TRPCError({ code: "BAD_REQUEST", message: `adapters.${merged}.merged_adapters: merging needs the LoRAX protocol (INFERENCE_PROTOCOL=lorax) and a template or raw prompt, not chat` });
    // a catalog Hub repo (owner/name) our worker does not serve yet is registered first; plain ids pass at once
    await ensureCatalogHubAdapters(ctx.db, ctx.env, targets.flatMap((t) => t.mergedAdapters?.ids ?? [t.adapterId]));
    const leases = generateLimits().admit(ctx.ownerId, input.adapters.length, ctx.clientAddress);
    try {
      const { hub, instanceId } = await streaming(ctx.db, ctx.env);
      const kind = input.mode === "chat" ? "chat" : input.adapters.length > 1 ? "compare" : "run";
      // chat mode: earlier turns from history (a new chat starts with just this message); other
      // modes need no read first: the write below finds no chat of this owner → NOT_FOUND
      const messages = input.mode === "chat" && input.chatId ? await chatHistory(ctx.db, ctx.ownerId, input.chatId, input.prompt) : undefined;
      const system = input.system?.trim() || undefined;
      const turns = messages ?? (input.mode === "chat" ? withSystem([{ role: "user", content: input.prompt }], system) : undefined);
      const runId = input.runId ?? randomUUID();
      // checked before anything is stored (hub.start checks again)
      if (hub.ownerOf(runId) !== null) throw new RunIdTakenError(runId);
      const generationIds = input.adapters.map(() => randomUUID());
      const chatId = input.chatId ?? randomUUID();
      // the worker request goes out first, then the rows are written (one statement, one round
      // trip) while the worker already works: the hub holds its writes until the rows exist
      // (`stored`), and the answer waits for them, so a chat whose id was answered survives a
      // kill -9. (On PGlite the statement runs on this thread: sent after it, the request waited
      // for it.) Continuing a chat too (a rerun): a chat that is not this owner's fails the write
      // (NOT_FOUND), which stops the run before anything is stored; meanwhile its tokens, of the
      // caller's own prompt (chat mode read the history as this owner above), reach only the
      // caller's own subscription.
      const store = () =>
        startRun({
          db: ctx.db,
          ownerId: ctx.ownerId,
          chat: input.chatId
            ? { continue: input.chatId }
            : {
                id: chatId,
                kind,
                title: titleFromPrompt(input.prompt, input.mode === "template" ? input.inputs : null),
                settings: { adapters: targets.map((t) => t.stored), mode: input.mode, inputs: input.inputs, params: input.params, ...(system ? { system } : {}) },
              },
          content: input.prompt,
          inputs: input.inputs ?? null,
          mode: input.mode,
          panes: targets.map((t, i) => ({ id: generationIds[i]!, adapterId: t.stored, prompt: turns ? JSON.stringify(turns) : (input.prompts?.[i] ?? input.prompt) })),
          params: input.params,
          runId,
          instanceId,
        });
      let writeRows: (rows: Promise<unknown>) => void = () => {};
      const stored = new Promise<unknown>((resolve) => (writeRows = resolve));
      hub.start(
        ctx.ownerId,
        targets.map(({ adapterId, mergedAdapters }, i) => ({
          generationId: generationIds[i]!,
          lease: leases[i],
          request: { prompt: turns ? input.prompt : (input.prompts?.[i] ?? input.prompt), messages: turns, adapterId, mergedAdapters, params: input.params, alternatives: input.alternatives },
        })),
        stored,
        runId,
      );
      // (a macrotask after the first output: its SSE write leaves before the statement runs)
      writeRows(ctx.env.DATABASE_URL ? store() : hub.firstOutput(runId, PGLITE_ROWS_AFTER_MS).then(() => new Promise((r) => setImmediate(r))).then(store));
      await stored;
      return { runId, chatId, generationIds };
    } catch (e) {
      for (const l of leases) l.release();
      throw e;
    }
  }),

  /** The run's events from `lastEventId + 1` on (all of them on first connect). */
  stream: ownerProcedure
    .input(
      z.object({
        runId: z.string().uuid("runId must be a UUID"),
        lastEventId: z.string().nullish(),
        /** opened before `start` answered (same runId): wait for the run to begin instead of NOT_FOUND */
        awaitStart: z.boolean().optional(),
      }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const { hub, relay } = await streaming(ctx.db, ctx.env);
      const from = input.lastEventId != null && /^\d+$/.test(input.lastEventId) ? Number(input.lastEventId) + 1 : 0;
      const local = () => hub.has(input.runId, ctx.ownerId);
      // not in this process: another server's run (Postgres), or one that ended long ago: its rows
      let rows: Generation[] = [];
      const stored = async () => (rows = await runGenerations({ db: ctx.db, ownerId: ctx.ownerId, runId: input.runId })).length > 0;
      let found = local();
      if (!found && !input.awaitStart) found = await stored();
      else if (!found) {
        // the start call may be in flight here or on another server (its rows appear before it answers)
        const deadline = Date.now() + AWAIT_START_MS;
        // (a run of this id held here for another owner ends the wait: NOT_FOUND)
        while (!found && !signal?.aborted && Date.now() < deadline && hub.ownerOf(input.runId) === null) {
          found = (await hub.awaitRun(input.runId, ctx.ownerId, relay ? AWAIT_POLL_MS : AWAIT_START_MS, signal)) || (relay !== null && (await stored()));
        }
      }
      if (!found) throw new RunNotFoundError(input.runId);
      if (local()) {
        for await (const [index, chunk] of hub.subscribe(input.runId, ctx.ownerId, from, signal)) yield tracked(String(index), chunk);
        return;
      }
      let next = from;
      const owner = rows[0]?.instanceId ?? null;
      if (relay && owner && owner !== relay.instanceId) {
        const outcome: { value: WatchOutcome } = { value: "aborted" };
        for await (const [index, chunk] of relay.watch({
          runId: input.runId,
          ownerInstance: owner,
          from,
          signal,
          outcome,
          ownerAlive: () => instanceAlive({ db: ctx.db, id: owner }),
          storedOutput: async (pane) => (await runGenerations({ db: ctx.db, ownerId: ctx.ownerId, runId: input.runId })).find((r) => r.pane === pane)?.output ?? "",
        })) {
          next = index + 1;
          yield tracked(String(index), chunk);
        }
        if (outcome.value !== "none" && outcome.value !== "dead") return;
        // the owner is gone: its rows are recovered as interrupted before they are served
        if (outcome.value === "dead") await recoverExpiredInstances({ db: ctx.db });
        await stored();
      }
      // what is stored: each pane's end as saved (its whole output), after the events already seen
      for (const [i, chunk] of storedEnds(rows).entries()) yield tracked(String(next + i), chunk);
    }),

  stop: mutationProcedure
    .input(
      z.object({
        runId: z.string().uuid("runId must be a UUID"),
        pane: z.number().int().min(0).max(LIMITS.maxPanes - 1).optional(),
        // tokens the browser showed per run pane when Stop was clicked: the stored output is cut there
        shown: z
          .array(z.number().int("shown: a whole number of tokens").min(0, "shown: a token count is never negative").nullable())
          .max(LIMITS.maxPanes, `shown: at most ${LIMITS.maxPanes} panes`)
          .optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { hub, relay } = await streaming(ctx.db, ctx.env);
      if (hub.stop(input.runId, ctx.ownerId, input.pane, input.shown)) return { stopped: true };
      // another server's run (this owner's, still unfinished): that server stops it
      const rows = relay ? await runGenerations({ db: ctx.db, ownerId: ctx.ownerId, runId: input.runId }) : [];
      const owner = rows.find((r) => r.status === "queued" || r.status === "streaming")?.instanceId;
      if (!relay || !owner || owner === relay.instanceId) return { stopped: false };
      await relay.stop(owner, input.runId, ctx.ownerId, input.pane, input.shown);
      return { stopped: true };
    }),
});
