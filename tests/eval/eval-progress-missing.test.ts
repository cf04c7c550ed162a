/**
 * Eval ids the database cannot have (found by `npm run fuzz:trpc`; both answered 500): a run that
 * does not exist is NOT_FOUND in eval.progress as in eval.run (the subscription's error goes
 * through the same mapping as every other procedure's, server/trpc.ts), and an id past int4 is
 * a 400 naming the bound.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";
import { openPglite, type TestDb } from "./db-harness";

let t: TestDb;
beforeAll(async () => {
  t = await openPglite();
});
afterAll(async () => {
  await t?.close();
});

it("eval.progress of a missing run is NOT_FOUND, like eval.run", async () => {
  const caller = createCaller({ db: t.db, env: parseEnv({}), ownerId: null, headers: new Headers() });
  await expect(caller.eval.run({ id: 424242 })).rejects.toMatchObject({ code: "NOT_FOUND" });
  const err = await (async () => {
    for await (const _ of await caller.eval.progress({ runId: 424242 })) void _;
  })().catch((e: unknown) => e);
  expect(err).toMatchObject({ code: "NOT_FOUND", message: "runId: eval run #424242 does not exist" });
});

it("ids past int4 are a 400 naming the field, not a database error (the columns are int4)", async () => {
  const caller = createCaller({ db: t.db, env: parseEnv({}), ownerId: null, headers: new Headers() });
  const big = 2 ** 31;
  await expect(caller.eval.run({ id: big })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/2147483647/) });
  await expect(caller.eval.examples({ resultId: big })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  await expect(caller.eval.progress({ runId: big })).rejects.toMatchObject({ code: "BAD_REQUEST" });
});
