/**
 * eval.progress for a run that does not exist: NOT_FOUND naming the field, as eval.run answers,
 * not a 500 (found by `npm run fuzz:trpc`). The subscription's error goes through the same
 * mapping as every other procedure's (server/trpc.ts).
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
