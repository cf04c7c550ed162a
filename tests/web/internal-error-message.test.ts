/**
 * An error the server did not mean to make (here: a query on a table that is gone) answers 500
 * with a plain message over HTTP; the failed SQL text stays in the server's log. A refusal the
 * app means (a LoraLandError, e.g. 404) keeps its own message. (The tRPC fuzzer found a 500
 * whose message carried the failed query.)
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ownerSecret, signOwner } from "../../server/auth/owner-cookie";
import { parseEnv } from "../../server/env";
import { handleTRPC } from "../../server/http/trpc-handler";
import { INTERNAL_MESSAGE } from "../../server/trpc";
import { openMigratedPglite, type TestDatabase } from "./db-harness";

let t: TestDatabase;
let cookie: string;
beforeAll(async () => {
  t = await openMigratedPglite();
  cookie = `owner=${signOwner(crypto.randomUUID(), await ownerSecret(t.db))}`;
});
afterAll(async () => {
  await t?.close();
});

const call = (path: string) =>
  handleTRPC(new Request(`http://localhost:3000/api/trpc/${path}`, { headers: { host: "localhost:3000", cookie } }), {
    db: async () => t.db,
    env: parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" }),
  });

describe("unexpected errors over HTTP", () => {
  it("a meant refusal keeps its message", async () => {
    const res = await call(`chats.get?input=${encodeURIComponent(JSON.stringify({ json: { id: crypto.randomUUID() } }))}`);
    expect(res.status).toBe(404);
    expect(JSON.stringify(await res.json())).not.toContain(INTERNAL_MESSAGE);
  });

  it("a failed query answers 500 without the SQL, and the log has it", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await t.db.execute(sql`drop table chats cascade`);
      const res = await call("chats.list");
      expect(res.status).toBe(500);
      const body = JSON.stringify(await res.json());
      expect(body).toContain(INTERNAL_MESSAGE);
      expect(body).not.toMatch(/select|chats"/i);
      expect(logged.mock.calls.flat().map(String).join(" ")).toMatch(/chats/);
    } finally {
      logged.mockRestore();
    }
  });
});
