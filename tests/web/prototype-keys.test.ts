/**
 * Two tRPC fuzzer findings (npm run fuzz, 16:02 UTC): a call to the path `constructor` (or
 * `__proto__`) never answered (tRPC looks paths up as plain properties and found Object's own), and
 * an input key named `constructor` was stored, after which every answer carrying it was a 500
 * (superjson refuses to serialize such keys: "prototype pollution risk"); presets.list stayed 500
 * for that owner. Now: an unknown path is a 404 naming it, and such a key is a 400 naming the field,
 * before anything is stored. PGlite, and Postgres when DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownerSecret, signOwner } from "../../server/auth/owner-cookie";
import { parseEnv } from "../../server/env";
import { handleTRPC, unknownProcedure } from "../../server/http/trpc-handler";
import { prototypeKeyPath } from "../../server/trpc";
import { drivers, type TestDatabase } from "./db-harness";

describe("prototypeKeyPath and unknownProcedure", () => {
  it("name the key or the path; clean input and real procedures pass", () => {
    expect(prototypeKeyPath(JSON.parse('{"inputs":{"constructor":"x"}}'))).toBe("inputs.constructor");
    expect(prototypeKeyPath(JSON.parse('{"a":[{"__proto__":{}}]}'))).toBe("a.0.__proto__");
    expect(prototypeKeyPath({ params: { prototype: 1 } })).toBe("params.prototype");
    expect(prototypeKeyPath({ prompt: "constructor", inputs: { y: "__proto__" }, d: new Date() })).toBeNull();
    expect(unknownProcedure("http://h/api/trpc/constructor", "/api/trpc")).toBe("constructor");
    expect(unknownProcedure("http://h/api/trpc/presets.list,__proto__.toString?batch=1", "/api/trpc")).toBe("__proto__.toString");
    expect(unknownProcedure("http://h/api/trpc/presets.list,chats.list?batch=1", "/api/trpc")).toBeNull();
  });
});

for (const driver of drivers) {
  describe(`prototype-named paths and keys on ${driver.name}`, () => {
    let t: TestDatabase;
    let cookie: string;
    beforeAll(async () => {
      t = await driver.open();
      cookie = `owner=${signOwner(crypto.randomUUID(), await ownerSecret(t.db))}`;
    });
    afterAll(async () => {
      await t?.close();
    });
    const env = parseEnv({ INFERENCE_URL: "http://127.0.0.1:9" });
    const call = (path: string, body?: string) =>
      handleTRPC(
        new Request(`http://localhost:3000/api/trpc/${path}`, {
          method: body === undefined ? "GET" : "POST",
          headers: { host: "localhost:3000", origin: "http://localhost:3000", cookie, "content-type": "application/json" },
          body,
        }),
        { db: async () => t.db, env },
      );

    it("a call to constructor or __proto__ answers 404 naming the path", async () => {
      for (const path of ["constructor?input=%7B%22json%22%3A0%7D", "__proto__?input=%7B%22json%22%3A%5B%5D%7D", "presets.list,constructor?batch=1&input=%7B%7D"]) {
        const res = await call(path);
        const text = await res.text();
        expect(res.status, text).toBe(404);
        expect((JSON.parse(text) as { error: { message: string } }).error.message).toMatch(/^no procedure on path "(constructor|__proto__)"$/);
      }
      await call("constructor", JSON.stringify({ json: 0, meta: { values: ["custom", "nope"] } })).then((r) => expect(r.status).toBe(404));
    });

    it("an input key named constructor is a 400 naming the field, nothing is stored, and the owner's list still answers", async () => {
      const body = '{"json":{"name":"p","adapter":"spam","mode":"template","inputs":{"constructor":"x"},"prompt":"hi","params":{"max_new_tokens":2}}}';
      const res = await call("presets.create", body);
      const text = await res.text();
      expect(res.status, text).toBe(400);
      expect(text).toContain('inputs.constructor: \\"constructor\\" is not allowed as a key');
      const list = await call("presets.list");
      expect(list.status, await list.clone().text()).toBe(200);
      expect(JSON.stringify(await list.json())).not.toContain('"p"');
    });
  });
}
