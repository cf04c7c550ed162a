/**
 * The anonymous owner: a UUID in the httpOnly `owner` cookie, signed `<uuid>.<hmac>` with a key
 * kept in the database (every web server on one Postgres shares it). Only a page load mints one
 * (proxy.ts); API calls with no valid signature have no owner. An unsigned cookie from before
 * signing is re-signed on a page load when it owns rows, so its history stays.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { serverSecrets } from "../../db/schema/access";
import { adapters } from "../../db/schema/catalog";
import { chats, shares } from "../../db/schema/chats";

export const OWNER_COOKIE = "owner";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SECRET_NAME = "owner_cookie_hmac";
/** two years, as before signing */
export const OWNER_COOKIE_MAX_AGE_S = 60 * 60 * 24 * 365 * 2;

export function isOwnerId(id: string): boolean {
  return UUID.test(id);
}

const secrets = new WeakMap<Db, Promise<Buffer>>();

/** The signing key: created once (the first server to ask wins the insert), cached per handle. */
export function ownerSecret(db: Db): Promise<Buffer> {
  let p = secrets.get(db);
  if (!p) {
    p = (async () => {
      await db
        .insert(serverSecrets)
        .values({ name: SECRET_NAME, value: randomBytes(32).toString("base64url") })
        .onConflictDoNothing();
      const [row] = await db.select({ value: serverSecrets.value }).from(serverSecrets).where(eq(serverSecrets.name, SECRET_NAME));
      return Buffer.from(row!.value, "base64url");
    })();
    p.catch(() => secrets.delete(db)); // a failed read is retried on the next request
    secrets.set(db, p);
  }
  return p;
}

const mac = (secret: Buffer, id: string) => createHmac("sha256", secret).update(`owner:${id}`).digest("base64url");

export function signOwner(id: string, secret: Buffer): string {
  return `${id}.${mac(secret, id)}`;
}

/** The owner id of a signed cookie value, or null (unsigned, forged, malformed). */
export function verifyOwner(value: string | null | undefined, secret: Buffer): string | null {
  if (!value) return null;
  const dot = value.indexOf(".");
  if (dot < 0) return null;
  const id = value.slice(0, dot).toLowerCase();
  if (!UUID.test(id)) return null;
  const given = Buffer.from(value.slice(dot + 1));
  const want = Buffer.from(mac(secret, id));
  return given.length === want.length && timingSafeEqual(given, want) ? id : null;
}

/** A cookie from before signing: a bare UUID. */
export function legacyOwner(value: string | null | undefined): string | null {
  const id = value?.toLowerCase();
  return id && UUID.test(id) ? id : null;
}

/** A cookie's value from a Cookie header. */
export function cookieValue(cookieHeader: string | null, name: string): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** The verified owner of a request's Cookie header (reads the key only when a cookie is there). */
export async function ownerFromHeaders(db: Db, headers: Headers): Promise<string | null> {
  const value = cookieValue(headers.get("cookie"), OWNER_COOKIE);
  if (!value) return null;
  return verifyOwner(value, await ownerSecret(db));
}

/** Does an (unsigned, legacy) owner id own anything: chats, shares or adapters? */
export async function ownsRows(db: Db, id: string): Promise<boolean> {
  const found = await Promise.all(
    [chats, shares, adapters].map((t) => db.select({ one: sql<number>`1` }).from(t).where(eq(t.ownerId, id)).limit(1)),
  );
  return found.some((rows) => rows.length > 0);
}
