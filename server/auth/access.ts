/**
 * The admin right and the client's address.
 *
 * Admin (changes state every user sees: bundled/user adapters, eval figures):
 * - with ADMIN_TOKEN set: `Authorization: Bearer <token>`, or the httpOnly `admin` cookie the UI
 *   sets once the token was presented (its value is an HMAC of the token, so changing the token
 *   signs everyone out); loopback grants nothing;
 * - without ADMIN_TOKEN: a request that came straight from loopback (no Forwarded or
 *   X-Forwarded-For header) to a server bound to loopback only.
 *
 * What the socket saw is only known under our own server (scripts/lib/web-server.mjs): it drops
 * any client-sent `x-loraland-peer` header and sets it to `<address>;direct|forwarded`. Under a
 * bare `next start`/`next dev` the header is not trusted, so loopback is never admin there.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { isLoopbackHost, listenHosts, type Env } from "../env";
import { cookieValue } from "./owner-cookie";

export const PEER_HEADER = "x-loraland-peer";
export const ADMIN_COOKIE = "admin";
/** set by scripts/lib/web-server.mjs in the process it serves from */
const PEER_FLAG = "__loralandPeerHeader";

export interface Peer {
  address: string;
  /** no Forwarded / X-Forwarded-For header came with the request */
  direct: boolean;
}

/** What our server saw on the socket; null when not served by it (the header cannot be trusted). */
export function peerOf(headers: Headers): Peer | null {
  if (!(globalThis as Record<string, unknown>)[PEER_FLAG]) return null;
  const v = headers.get(PEER_HEADER);
  if (!v) return null;
  const [address = "", how] = v.split(";");
  return { address, direct: how === "direct" };
}

function lastForwardedFor(headers: Headers): string | null {
  const xff = headers.get("x-forwarded-for");
  if (!xff) return null;
  const last = xff.split(",").map((s) => s.trim()).filter(Boolean).pop();
  return last ?? null;
}

/**
 * The client's address for per-address limits: behind a trusted proxy (TRUST_PROXY=1) the last
 * X-Forwarded-For entry (the one our proxy appended; earlier ones are the client's word), else the
 * socket's address.
 */
export function clientAddress(headers: Headers, env: Pick<Env, "TRUST_PROXY">): string {
  if (env.TRUST_PROXY) return lastForwardedFor(headers) ?? peerOf(headers)?.address ?? "unknown";
  // under a bare `next start` Next fills X-Forwarded-For from the socket when the client sent none
  return peerOf(headers)?.address ?? lastForwardedFor(headers) ?? "unknown";
}

/** The admin cookie's value for a token: an HMAC of it, never the token itself. */
export function adminCookieValue(token: string): string {
  return createHmac("sha256", token).update("loraland-admin-cookie-v1").digest("base64url");
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Authorization: Bearer <ADMIN_TOKEN>` */
export function isBearerAdmin(headers: Headers, env: Pick<Env, "ADMIN_TOKEN">): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "");
  return !!env.ADMIN_TOKEN && !!m && sameSecret(m[1]!.trim(), env.ADMIN_TOKEN);
}

export function isAdmin(headers: Headers, env: Pick<Env, "ADMIN_TOKEN" | "HOST">): boolean {
  if (env.ADMIN_TOKEN) {
    if (isBearerAdmin(headers, env)) return true;
    const cookie = cookieValue(headers.get("cookie"), ADMIN_COOKIE);
    return !!cookie && sameSecret(cookie, adminCookieValue(env.ADMIN_TOKEN));
  }
  if (!listenHosts(env).every(isLoopbackHost)) return false;
  const peer = peerOf(headers);
  return !!peer && peer.direct && isLoopbackHost(peer.address) && !headers.get("forwarded");
}

export function checkAdminToken(token: string, env: Pick<Env, "ADMIN_TOKEN">): boolean {
  return !!env.ADMIN_TOKEN && sameSecret(token, env.ADMIN_TOKEN);
}
