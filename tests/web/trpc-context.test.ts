/** The owner cookie and the same-origin guard that state-changing procedures rely on. */
import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";
import type { Db } from "../../db/client";
import { parseEnv } from "../../server/env";
import { createTRPCContext, createTRPCRouter, isSameOrigin, mutationProcedure, ownerFromCookieHeader, ownerProcedure } from "../../server/trpc";

const ID = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b";

describe("owner cookie", () => {
  it("reads a well-formed owner id among other cookies", () => {
    expect(ownerFromCookieHeader(`theme=dark; owner=${ID}; x=1`)).toBe(ID);
    expect(ownerFromCookieHeader(`owner=${ID.toUpperCase()}`)).toBe(ID);
  });
  it("ignores a missing or forged value", () => {
    expect(ownerFromCookieHeader(null)).toBeNull();
    expect(ownerFromCookieHeader("theme=dark")).toBeNull();
    expect(ownerFromCookieHeader("owner=../../etc")).toBeNull();
    expect(ownerFromCookieHeader("owner=' or 1=1")).toBeNull();
  });
});

describe("same-origin guard", () => {
  const h = (o: Record<string, string>) => new Headers(o);
  it("accepts our own pages and non-browser callers", () => {
    expect(isSameOrigin(h({ host: "localhost:3000", origin: "http://localhost:3000", "sec-fetch-site": "same-origin" }))).toBe(true);
    expect(isSameOrigin(h({ host: "localhost:3000" }))).toBe(true);
    expect(isSameOrigin(h({ host: "app.internal", "x-forwarded-host": "lora.example.com", origin: "https://lora.example.com" }))).toBe(true);
  });
  it("refuses another site", () => {
    expect(isSameOrigin(h({ host: "localhost:3000", origin: "http://evil.test" }))).toBe(false);
    expect(isSameOrigin(h({ host: "localhost:3000", "sec-fetch-site": "cross-site" }))).toBe(false);
    expect(isSameOrigin(h({ host: "localhost:3000", origin: "null" }))).toBe(false);
  });

  it("guards mutationProcedure and ownerProcedure", async () => {
    const router = createTRPCRouter({
      whoami: ownerProcedure.query(({ ctx }) => ctx.ownerId),
      change: mutationProcedure.mutation(() => "changed"),
    });
    const env = parseEnv({});
    const db = {} as Db;
    const call = async (headers: Record<string, string>) => router.createCaller(await createTRPCContext({ headers: new Headers(headers), db, env }));

    expect(await (await call({ cookie: `owner=${ID}` })).whoami()).toBe(ID);
    await expect((await call({})).whoami()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(await (await call({ cookie: `owner=${ID}`, host: "a:1", origin: "http://a:1" })).change()).toBe("changed");
    const err = await (await call({ cookie: `owner=${ID}`, host: "a:1", origin: "http://b:1" })).change().catch((e) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect(err.code).toBe("FORBIDDEN");
  });
});
