/**
 * The arena (issue 14 item 11): the Bradley–Terry ratings, who plays a task, what a blind pane may
 * see, the vote rules (one vote per battle, an unknown or someone else's battle is 404) through the
 * router on PGlite and Postgres, and a whole battle against the REAL worker: names hidden until
 * the vote, revealed by it, counted on the leaderboard.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arenaBattles } from "../../db/schema/arena";
import { parseEnv } from "../../server/env";
import { ANCHOR_RATING, bradleyTerry, fitStrengths, winProbability, type Game } from "../../server/arena/ratings";
import { arenaTasks, BASE_KEY, pickPair } from "../../server/arena/tasks";
import { createBattle } from "../../server/db-queries/arena";
import { listCatalogAdapters } from "../../server/db-queries/catalog";
import type { WorkerStatus } from "../../server/inference/client";
import type { RunChunk } from "../../server/inference/stream-hub";
import { OwnerLimits } from "../../server/limits";
import { renderTemplate } from "../../components/playground/template";
import { arenaParams, arenaRouter, blind } from "../../server/routers/arena";
import { setGenerateLimits } from "../../server/routers/generate";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";
import { freePort } from "../e2e/browser";
import { realWorkerAvailable, workerAnswer } from "../e2e/playground-harness";
import { databases, type TestDb } from "../eval/db-harness";
import { spawnRealWorker, type RunningWorker } from "./generate-worker-process";
import { eq } from "drizzle-orm";

const games = (spec: [string, string, Game["outcome"], number][]): Game[] => spec.flatMap(([a, b, outcome, times]) => Array.from({ length: times }, () => ({ a, b, outcome })));
const rating = (rows: ReturnType<typeof bradleyTerry>, m: string) => rows.find((r) => r.model === m)!.rating;

describe("Bradley–Terry ratings", () => {
  it("starts everyone at the anchor, and ties keep them there", () => {
    expect(bradleyTerry([], ["x", "y"]).map((r) => r.rating)).toEqual([ANCHOR_RATING, ANCHOR_RATING]);
    const tied = bradleyTerry(games([["x", "y", "tie", 3], ["x", "y", "both_bad", 2]]));
    for (const r of tied) expect(r.rating).toBeCloseTo(ANCHOR_RATING, 6);
    expect(tied.find((r) => r.model === "x")).toMatchObject({ games: 5, wins: 0, losses: 0, ties: 3, bothBad: 2 });
  });

  it("rates a winner above and a loser below, symmetrically, and an unbeaten model stays finite", () => {
    const rows = bradleyTerry(games([["x", "y", "a", 4]]));
    expect(rows.map((r) => r.model)).toEqual(["x", "y"]);
    expect(rating(rows, "x")).toBeGreaterThan(ANCHOR_RATING);
    expect(rating(rows, "x") - ANCHOR_RATING).toBeCloseTo(ANCHOR_RATING - rating(rows, "y"), 6);
    expect(Number.isFinite(rating(rows, "x"))).toBe(true);
    // "b" wins count for the second pane's model
    expect(bradleyTerry(games([["y", "x", "b", 4]])).map((r) => [r.model, r.rating.toFixed(6)])).toEqual(rows.map((r) => [r.model, r.rating.toFixed(6)]));
  });

  it("is the maximum-likelihood fit: every model's expected wins equal its observed wins", () => {
    const g = games([["a", "b", "a", 5], ["a", "b", "b", 2], ["b", "c", "a", 4], ["c", "b", "a", 1], ["a", "c", "tie", 2], ["a", "c", "a", 3]]);
    const rows = bradleyTerry(g);
    const r = Object.fromEntries(rows.map((x) => [x.model, x.rating]));
    for (const m of ["a", "b", "c"]) {
      let expected = winProbability(r[m]!, ANCHOR_RATING) * 1; // the virtual game against the anchor
      let observed = 0.5;
      for (const x of g) {
        if (x.a !== m && x.b !== m) continue;
        const other = x.a === m ? x.b : x.a;
        expected += winProbability(r[m]!, r[other]!);
        observed += x.outcome === "tie" || x.outcome === "both_bad" ? 0.5 : (x.outcome === "a") === (x.a === m) ? 1 : 0;
      }
      expect(expected).toBeCloseTo(observed, 6);
    }
    expect(rows.map((x) => x.model)).toEqual(["a", "b", "c"]);
  });

  it("does not depend on the order of the votes", () => {
    const g = games([["a", "b", "a", 3], ["b", "c", "a", 2], ["c", "a", "a", 1], ["a", "c", "tie", 1]]);
    const reversed = bradleyTerry([...g].reverse());
    expect(bradleyTerry(g).map((r) => [r.model, r.rating.toFixed(8)])).toEqual(reversed.map((r) => [r.model, r.rating.toFixed(8)]));
  });

  it("fitStrengths with no games is the anchor's strength", () => {
    expect([...fitStrengths(new Float64Array(4), new Float64Array(2).fill(0.5), 2)]).toEqual([1, 1]);
  });
});

const worker = (adapters: { id: string }[] | null, modelId = "loraland-mini"): WorkerStatus =>
  ({ url: "http://w", protocol: "lorax", online: true, ready: true, error: null, modelId, info: null, limits: {}, adapters }) as unknown as WorkerStatus;

describe("arena tasks and pairing", () => {
  it("offers each task with a runnable adapter, with the base model as a contestant", async () => {
    const t = await databases[0]!.open();
    try {
      const rows = await listCatalogAdapters(t.db);
      const tasks = arenaTasks(rows, worker([{ id: "sql" }, { id: "ner" }]));
      expect(tasks.map((x) => x.key).sort()).toEqual(["ner", "sql"]);
      const sql = tasks.find((x) => x.key === "sql")!;
      expect(sql.contestants.map((c) => c.key)).toEqual(["sql", BASE_KEY]);
      expect(sql.contestants[1]).toMatchObject({ adapterId: null, label: "Base model (loraland-mini)", template: sql.template });
      expect(sql.inputColumns).toEqual(["table", "columns", "question"]);
      // the 27 LoRA Land adapters need Mistral-7B: none plays on this worker
      expect(arenaTasks(rows, worker([]))).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it("pickPair always picks two different contestants, each pane either one", () => {
    const cs = ["p", "q", "r"].map((key) => ({ key, label: key, adapterId: key, template: "" }));
    const seen = new Set<string>();
    for (const u of [0, 0.2, 0.34, 0.5, 0.67, 0.8, 0.99]) for (const v of [0, 0.49, 0.5, 0.99]) {
      let k = 0;
      const [a, b] = pickPair(cs, () => (k++ === 0 ? u : v));
      expect(a.key).not.toBe(b.key);
      seen.add(`${a.key}${b.key}`);
    }
    expect([...seen].sort()).toEqual(["pq", "pr", "qp", "qr", "rp", "rq"]);
  });
});

describe("blind panes", () => {
  it("keep text and status, drop timings, log-probabilities and error text", () => {
    const stats = { queueMs: 3, ttftMs: 40, totalMs: 90, tokensIn: 20, tokensOut: 2, tokensPerSecond: 50 };
    expect(blind({ pane: 1, kind: "stats", stats })).toBeNull();
    expect(blind({ pane: 0, kind: "token", id: 7, text: "SE", logprob: -0.1, special: false, alternatives: [{ id: 8, text: "x", logprob: -3 }], at: 123.4 })).toEqual({
      pane: 0, kind: "token", id: 7, text: "SE", logprob: null, special: false, at: 0,
    });
    const end = blind({ pane: 1, kind: "end", status: "error", finishReason: null, error: "adapter 'sql' failed to load", errorStatus: 500, output: "", stats })!;
    expect(JSON.stringify(end)).not.toContain("sql");
    expect(end).toMatchObject({ status: "error", errorStatus: null, stats: { ttftMs: null, tokensPerSecond: null, tokensOut: 2 } });
  });
});

// ── the router on each database; one worker URL for the whole file (the hub is per process) ──
const router = createTRPCRouter({ arena: arenaRouter });
const createCaller = createCallerFactory(router);
const sameSite = { host: "localhost:3000", origin: "http://localhost:3000" };
let real: RunningWorker | null = null;
let workerUrl = "";
beforeAll(async () => {
  if (realWorkerAvailable()) real = await spawnRealWorker(path.resolve("data/demo/base"), path.resolve("data/demo/adapters"));
  workerUrl = real?.url ?? `http://127.0.0.1:${await freePort()}`; // nothing listens: the vote rules need no worker
  setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
}, 180_000);
afterAll(async () => {
  await real?.stop();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof TRPCError ? e.code : String(e);
  }
}

for (const target of databases) {
  describe(`arena router on ${target.name}`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await target.open();
    });
    afterAll(async () => {
      await t?.close();
    });
    const caller = (ownerId: string | null, headers: Record<string, string> = sameSite) =>
      createCaller({ db: t.db, env: parseEnv({ INFERENCE_URL: workerUrl }), ownerId, headers: new Headers(headers) });
    const battle = async (ownerId: string, modelA: string | null, modelB: string | null) => {
      const id = randomUUID();
      await createBattle({ db: t.db, battle: { id, ownerId, task: "sql", modelA, modelB, baseModelId: "loraland-mini", runId: randomUUID(), inputs: {}, params: { max_new_tokens: 4 } } });
      return id;
    };

    it("takes one vote per battle, names the models in its answer, and refuses a second", async () => {
      const owner = randomUUID();
      const id = await battle(owner, "sql", null);
      const res = await caller(owner).arena.vote({ battleId: id, vote: "a" });
      expect(res).toMatchObject({ vote: "a", task: "sql", a: { model: "sql" }, b: { model: BASE_KEY } });
      expect(res.a.label).toMatch(/SQL/);
      expect(res.b.label).toMatch(/^Base model/);
      expect(await code(caller(owner).arena.vote({ battleId: id, vote: "b" }))).toBe("CONFLICT");
      const [row] = await t.db.select().from(arenaBattles).where(eq(arenaBattles.id, id));
      expect(row!.vote).toBe("a");
    });

    it("answers 404 for an unknown battle and for someone else's, which keeps its vote", async () => {
      const owner = randomUUID();
      const id = await battle(owner, null, "sql");
      expect(await code(caller(owner).arena.vote({ battleId: randomUUID(), vote: "a" }))).toBe("NOT_FOUND");
      expect(await code(caller(randomUUID()).arena.vote({ battleId: id, vote: "a" }))).toBe("NOT_FOUND");
      expect((await caller(owner).arena.vote({ battleId: id, vote: "tie" })).vote).toBe("tie");
    });

    it("counts exactly one of two votes sent at once", async () => {
      const owner = randomUUID();
      const id = await battle(owner, "sql", null);
      const results = await Promise.all((["a", "b", "tie", "both_bad"] as const).map((vote) => code(caller(owner).arena.vote({ battleId: id, vote }))));
      expect(results.filter((r) => r === "ok")).toHaveLength(1);
      expect(results.filter((r) => r === "CONFLICT")).toHaveLength(3);
    });

    it("refuses a vote without an owner, from another site, or with a bad value (naming the field)", async () => {
      const owner = randomUUID();
      const id = await battle(owner, "sql", null);
      expect(await code(caller(null).arena.vote({ battleId: id, vote: "a" }))).toBe("UNAUTHORIZED");
      expect(await code(caller(owner, { host: "localhost:3000", origin: "https://evil.test" }).arena.vote({ battleId: id, vote: "a" }))).toBe("FORBIDDEN");
      const bad = await caller(owner).arena.vote({ battleId: id, vote: "best" as "a" }).catch((e: TRPCError) => e);
      expect(bad).toBeInstanceOf(TRPCError);
      expect((bad as TRPCError).code).toBe("BAD_REQUEST");
      expect((bad as TRPCError).message).toMatch(/vote must be one of a, b, tie, both_bad/);
    });

    it("fits the leaderboard to the task's votes", async () => {
      const before = await caller(null).arena.leaderboard({ task: "sql" });
      const owner = randomUUID();
      for (let i = 0; i < 3; i++) await caller(owner).arena.vote({ battleId: await battle(owner, null, "sql"), vote: "b" });
      const after = await caller(null).arena.leaderboard({ task: "sql" });
      expect(after.votes).toBe(before.votes + 3);
      expect(after.standings[0]).toMatchObject({ model: "sql" });
      expect(after.standings.find((s) => s.model === BASE_KEY)!.label).toMatch(/^Base model/);
      expect((await caller(null).arena.leaderboard({ task: "no-such-task" })).standings).toEqual([]);
    });

    it.runIf(realWorkerAvailable())("refuses a battle with a missing input (naming it), an unknown task, or over the owner's limits", async () => {
      const owner = randomUUID();
      const c = caller(owner);
      const missing = await c.arena.start({ task: "sql", inputs: { table: "t", columns: "a" } }).catch((e: TRPCError) => e);
      expect((missing as TRPCError).code).toBe("BAD_REQUEST");
      expect((missing as TRPCError).message).toBe('inputs: missing input "question"');
      expect(await code(c.arena.start({ task: "conllpp", inputs: {} }))).toBe("NOT_FOUND");
      // a battle holds two streams of the owner's budget
      setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 1, requestsPerMinute: 1000 }));
      try {
        expect(await code(c.arena.start({ task: "sql", inputs: { table: "t", columns: "a", question: "q" } }))).toBe("TOO_MANY_REQUESTS");
      } finally {
        setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 8, requestsPerMinute: 1000 }));
      }
    });

    it.runIf(realWorkerAvailable())("runs a blind battle on the real worker: nothing names a model until the vote", async () => {
      const owner = randomUUID();
      const c = caller(owner);
      const tasks = await c.arena.tasks();
      const sql = tasks.find((x) => x.key === "sql")!;
      expect(sql.contestants.map((x) => x.model)).toEqual(["sql", BASE_KEY]);
      const inputs = sql.sampleInputs[0]!;
      const started = await c.arena.start({ task: "sql", inputs });
      expect(Object.keys(started).sort()).toEqual(["battleId", "task"]);
      const chunks: RunChunk[] = [];
      for await (const e of await c.arena.stream({ battleId: started.battleId })) chunks.push((e as unknown as [string, RunChunk])[1]);
      const ends = chunks.filter((x) => x.kind === "end");
      expect(ends.map((x) => x.pane).sort()).toEqual([0, 1]);
      for (const x of chunks) {
        expect(x.kind).not.toBe("stats");
        if (x.kind === "token") expect(x.logprob).toBeNull();
      }
      // someone else cannot follow it
      expect(await code((async () => { for await (const _ of await caller(randomUUID()).arena.stream({ battleId: started.battleId })) void _; })())).toBe("NOT_FOUND");
      const output = (pane: number) => {
        const end = ends.find((x) => x.pane === pane);
        return end?.kind === "end" ? end.output : "";
      };
      // which pane is the adapter: the one that answered as the worker answers for it
      const adapterAnswer = await workerAnswer(real!.url, renderTemplate(sql.template, inputs), "sql", arenaParams(sql.metricName).max_new_tokens);
      expect(adapterAnswer).not.toBe(await workerAnswer(real!.url, renderTemplate(sql.template, inputs), null, arenaParams(sql.metricName).max_new_tokens));
      expect([output(0), output(1)]).toContain(adapterAnswer);
      const vote = output(0) === adapterAnswer ? "a" : "b";
      const revealed = await c.arena.vote({ battleId: started.battleId, vote });
      expect(revealed[vote].model).toBe("sql");
      expect(revealed[vote === "a" ? "b" : "a"].model).toBe(BASE_KEY);
      const board = await c.arena.leaderboard({ task: "sql" });
      expect(board.standings[0]!.model).toBe("sql");
    });
  });
}
