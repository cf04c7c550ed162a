/**
 * Who a request is: the signed owner cookie, the admin right (token or loopback), the client's
 * address, and the guards the procedures and the HTTP entry put on them. Real PGlite for the key.
 */
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCookieValue, clientAddress, isAdmin, PEER_HEADER } from "../../server/auth/access";
import { legacyOwner, ownerSecret, ownsRows, signOwner, verifyOwner } from "../../server/auth/owner-cookie";
import { exposureError, listenHosts, parseEnv } from "../../server/env";
import { adminMutationProcedure, assertCaller, createTRPCContext, createTRPCRouter, isSameOrigin, mutationProcedure, ownerProcedure } from "../../server/trpc";
import { openMigratedPglite, type TestDatabase } from "./db-harness";

const ID = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b";
const TOKEN = "a-long-enough-admin-token";
let t: TestDatabase;
let secret: Buffer;
beforeAll(async () => {
  t = await openMigratedPglite();
  secret = await ownerSecret(t.db);
});
afterAll(async () => {
  await t?.close();
});

/** what scripts/lib/web-server.mjs does for the process it serves */
function asOurServer<T>(fn: () => T): T {
  const g = globalThis as Record<string, unknown>;
  g.__loralandPeerHeader = true;
  try {
    return fn();
  } finally {
    delete g.__loralandPeerHeader;
  }
}

describe("owner cookie", () => {
  it("is signed with a key kept in the database, the same on every read", async () => {
    expect(secret.length).toBe(32);
    expect((await ownerSecret(t.db)).equals(secret)).toBe(true);
    const signed = signOwner(ID, secret);
    expect(verifyOwner(signed, secret)).toBe(ID);
  });
  it("refuses a bare UUID, a forged or foreign signature, and junk", async () => {
    expect(verifyOwner(ID, secret)).toBeNull();
    expect(verifyOwner(`${ID}.AAAA`, secret)).toBeNull();
    expect(verifyOwner(signOwner(ID, Buffer.alloc(32, 7)), secret)).toBeNull();
    const other = "11111111-2222-4333-8444-555555555555";
    expect(verifyOwner(`${other}.${signOwner(ID, secret).split(".")[1]}`, secret)).toBeNull();
    expect(verifyOwner("../../etc", secret)).toBeNull();
    expect(verifyOwner(null, secret)).toBeNull();
  });
  it("knows a legacy (unsigned) cookie, and whether it owns rows", async () => {
    expect(legacyOwner(ID.toUpperCase())).toBe(ID);
    expect(legacyOwner("' or 1=1")).toBeNull();
    expect(await ownsRows(t.db, ID)).toBe(false);
  });
});

describe("admin right", () => {
  const h = (o: Record<string, string>) => new Headers(o);
  const direct = { [PEER_HEADER]: "127.0.0.1;direct" };
  it("without ADMIN_TOKEN: loopback straight to our loopback-bound server only", () => {
    const env = parseEnv({});
    asOurServer(() => {
      expect(isAdmin(h(direct), env)).toBe(true);
      expect(isAdmin(h({ [PEER_HEADER]: "::1;direct" }), env)).toBe(true);
      // through a proxy on the same machine, or from elsewhere
      expect(isAdmin(h({ [PEER_HEADER]: "127.0.0.1;forwarded" }), env)).toBe(false);
      expect(isAdmin(h({ ...direct, forwarded: "for=1.2.3.4" }), env)).toBe(false);
      expect(isAdmin(h({ [PEER_HEADER]: "192.168.1.9;direct" }), env)).toBe(false);
      // a server bound to every interface (with a token, as it must be) never trusts loopback
      expect(isAdmin(h(direct), parseEnv({ HOST: "0.0.0.0", ADMIN_TOKEN: TOKEN }))).toBe(false);
    });
    // not served by our server: the header is the client's word
    expect(isAdmin(h(direct), env)).toBe(false);
  });
  it("with ADMIN_TOKEN: the bearer header or the cookie the UI sets; loopback grants nothing", () => {
    const env = parseEnv({ ADMIN_TOKEN: TOKEN });
    asOurServer(() => {
      expect(isAdmin(h(direct), env)).toBe(false);
      expect(isAdmin(h({ authorization: `Bearer ${TOKEN}` }), env)).toBe(true);
      expect(isAdmin(h({ authorization: `Bearer ${TOKEN}x` }), env)).toBe(false);
      expect(isAdmin(h({ cookie: `admin=${adminCookieValue(TOKEN)}` }), env)).toBe(true);
      expect(isAdmin(h({ cookie: `admin=${adminCookieValue("another-token-of-16+")}` }), env)).toBe(false);
      expect(isAdmin(h({ cookie: `admin=${TOKEN}` }), env)).toBe(false);
    });
  });
  it("a non-loopback HOST without ADMIN_TOKEN is refused; loopback binds both families", () => {
    expect(listenHosts(parseEnv({}))).toEqual(["127.0.0.1", "::1"]);
    expect(listenHosts(parseEnv({ HOST: "localhost" }))).toEqual(["127.0.0.1", "::1"]);
    expect(exposureError(parseEnv({}))).toBeNull();
    expect(exposureError(parseEnv({ HOST: "127.0.0.1" }))).toBeNull();
    expect(exposureError(parseEnv({ HOST: "0.0.0.0" }))).toMatch(/ADMIN_TOKEN is not set/);
    expect(exposureError(parseEnv({ HOST: "0.0.0.0", ADMIN_TOKEN: TOKEN }))).toBeNull();
    expect(() => parseEnv({ ADMIN_TOKEN: "short" })).toThrow(/ADMIN_TOKEN must be at least 16/);
  });
});

describe("client address", () => {
  it("is the socket's, or behind TRUST_PROXY=1 the last X-Forwarded-For entry", () => {
    const headers = new Headers({ [PEER_HEADER]: "10.0.0.5;forwarded", "x-forwarded-for": "6.6.6.6, 203.0.113.7" });
    asOurServer(() => {
      expect(clientAddress(headers, parseEnv({}))).toBe("10.0.0.5");
      expect(clientAddress(headers, parseEnv({ TRUST_PROXY: "1" }))).toBe("203.0.113.7");
    });
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
});

describe("procedures", () => {
  const router = createTRPCRouter({
    whoami: ownerProcedure.query(({ ctx }) => ctx.ownerId),
    change: mutationProcedure.mutation(() => "changed"),
    shared: adminMutationProcedure.mutation(() => "shared"),
  });
  const env = parseEnv({ ADMIN_TOKEN: TOKEN });
  const ctx = (headers: Record<string, string>) => createTRPCContext({ headers: new Headers(headers), db: t.db, env });
  const call = async (headers: Record<string, string>) => router.createCaller(await ctx(headers));

  it("see only a validly signed owner; an HTTP call with none (and no admin right) is refused", async () => {
    const signed = `owner=${signOwner(ID, secret)}`;
    expect(await (await call({ cookie: signed })).whoami()).toBe(ID);
    await expect((await call({ cookie: `owner=${ID}` })).whoami()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await expect((await call({})).whoami()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(() => assertCaller({ ownerId: null, admin: false, db: t.db, env, headers: new Headers() })).toThrow(TRPCError);
    expect(() => assertCaller({ ownerId: null, admin: true, db: t.db, env, headers: new Headers() })).not.toThrow();
    expect(() => assertCaller({ ownerId: ID, db: t.db, env, headers: new Headers() })).not.toThrow();
  });

  it("check the origin first, then the owner; shared state needs the admin right", async () => {
    const signed = `owner=${signOwner(ID, secret)}`;
    expect(await (await call({ cookie: signed, host: "a:1", origin: "http://a:1" })).change()).toBe("changed");
    await expect((await call({ cookie: signed, host: "a:1", origin: "http://b:1" })).change()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect((await call({ host: "a:1", origin: "http://b:1" })).change()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect((await call({ cookie: signed })).shared()).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await (await call({ authorization: `Bearer ${TOKEN}` })).shared()).toBe("shared");
  });
});
