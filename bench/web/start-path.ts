/**
 * The server's part of `generate.start` (what W1 in run.ts cannot separate from the browser):
 *
 * - S1: writing a new run's rows (chat, turn, one generation) — `createChat` + the `startTurn`
 *   transaction, or the one statement `startRun` — interleaved, on PGlite on disk (as the server
 *   keeps it) and, with DATABASE_URL, on Postgres.
 * - S2: `generate.start` through an in-process tRPC caller (PGlite on disk, the real worker on the
 *   demo model): when it answers, and when the first token reaches the subscription opened with
 *   it (awaitStart, as the browser does).
 *
 *   npx tsx bench/web/start-path.ts [--runs 50]
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openDb, type DbHandle } from "../../db/client";
import { migrateDb } from "../../db/migrate";
import { createChat, startRun, startTurn } from "../../server/db-queries/chats";
import { parseEnv } from "../../server/env";
import { OwnerLimits } from "../../server/limits";
import { generateRouter, setGenerateLimits } from "../../server/routers/generate";
import { createCallerFactory, createTRPCRouter } from "../../server/trpc";
import { realWorkerAvailable, startTestWorker } from "../../tests/e2e/playground-harness";

const args = process.argv.slice(2);
const RUNS = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 50;
const WARMUP = 5;
const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const prompt = "The best thing about small models is";
const params = { max_new_tokens: 8, temperature: 0, ignore_eos: true };

async function writes(h: DbHandle): Promise<{ two: number; one: number }> {
  const settings = { adapters: ["sql"], mode: "raw" as const, params };
  const two: number[] = [];
  const one: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const ownerId = randomUUID();
    let t = now();
    const id = randomUUID();
    await createChat({ db: h.db, id, ownerId, kind: "run", title: prompt, settings });
    await startTurn({ db: h.db, ownerId, chatId: id, content: prompt, inputs: null, mode: "raw", panes: [{ id: randomUUID(), adapterId: "sql", prompt }], params });
    if (i >= WARMUP) two.push(now() - t);
    t = now();
    await startRun({
      db: h.db,
      ownerId,
      chat: { id: randomUUID(), kind: "run", title: prompt, settings },
      content: prompt,
      inputs: null,
      mode: "raw",
      panes: [{ id: randomUUID(), adapterId: "sql", prompt }],
      params,
      runId: randomUUID(),
      instanceId: null,
    });
    if (i >= WARMUP) one.push(now() - t);
  }
  return { two: median(two), one: median(one) };
}

async function main() {
  const rows: string[][] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-start-path-"));
  const pglite = await openDb({ pgliteDir: path.join(dir, "s1") });
  await migrateDb(pglite);
  try {
    const w = await writes(pglite);
    rows.push(["S1", "a new run's rows, PGlite on disk: createChat + startTurn / startRun", `${w.two.toFixed(2)} / ${w.one.toFixed(2)} ms`, `medians of ${RUNS}, interleaved`]);
  } finally {
    await pglite.close();
  }
  if (process.env.DATABASE_URL) {
    const pg = await openDb({ databaseUrl: process.env.DATABASE_URL, max: 4 });
    await migrateDb(pg);
    try {
      const w = await writes(pg);
      rows.push(["S1", "a new run's rows, Postgres: createChat + startTurn / startRun", `${w.two.toFixed(2)} / ${w.one.toFixed(2)} ms`, `medians of ${RUNS}, interleaved`]);
    } finally {
      await pg.close();
    }
  }

  const worker = await startTestWorker({ fake: !realWorkerAvailable() });
  const h = await openDb({ pgliteDir: path.join(dir, "s2") });
  await migrateDb(h);
  try {
    setGenerateLimits(new OwnerLimits({ maxConcurrentStreams: 100, requestsPerMinute: 1_000_000 }));
    const call = createCallerFactory(createTRPCRouter({ generate: generateRouter }))({
      db: h.db,
      env: parseEnv({ INFERENCE_URL: worker.url }),
      ownerId: randomUUID(),
      headers: new Headers({ host: "localhost", origin: "http://localhost" }),
    });
    const answered: number[] = [];
    const first: number[] = [];
    for (let i = 0; i < RUNS + WARMUP; i++) {
      const runId = randomUUID();
      const t0 = now();
      let tFirst = NaN;
      const sub = (async () => {
        for await (const e of await call.generate.stream({ runId, awaitStart: true })) {
          const [, chunk] = e as unknown as [string, { kind: string }];
          if (chunk.kind === "token" && Number.isNaN(tFirst)) tFirst = now() - t0;
          if (chunk.kind === "end") break;
        }
      })();
      await call.generate.start({ mode: "raw", adapters: ["sql"], prompt, params, runId });
      const tAnswer = now() - t0;
      await sub;
      if (i >= WARMUP) {
        answered.push(tAnswer);
        first.push(tFirst);
      }
    }
    rows.push([
      "S2",
      "generate.start in process (PGlite on disk): answered / first token",
      `${median(answered).toFixed(1)} / ${median(first).toFixed(1)} ms`,
      `medians of ${RUNS}; worker: ${worker.real ? "real (data/demo)" : "stand-in"}`,
    ]);
  } finally {
    await h.close();
    await worker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const load = os.loadavg().map((x) => x.toFixed(1)).join(" ");
  console.log(`\nMachine: ${os.cpus()[0]?.model ?? "cpu"}, ${os.cpus().length} cores, Node ${process.version}, load average ${load}\n`);
  console.log("| id | figure | result | detail |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
