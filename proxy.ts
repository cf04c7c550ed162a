/**
 * Every page load:
 * - a Content-Security-Policy with a fresh nonce (Next puts it on its own scripts; the layout on
 *   its theme script) and `frame-ancestors 'none'`: no injected script runs, no site frames us;
 * - an anonymous owner: an httpOnly, SameSite=Lax `owner` cookie `<uuid>.<hmac>` signed with the
 *   server's key (server/auth/owner-cookie.ts), set on the response and on the forwarded request
 *   so the very first render sees it. API calls never mint one: without a valid cookie they are
 *   refused (or, for admin, served without an owner). An unsigned cookie from before signing is
 *   re-signed when it owns rows, so its history stays.
 */
import { NextResponse, type NextRequest } from "next/server";
import { legacyOwner, OWNER_COOKIE, OWNER_COOKIE_MAX_AGE_S, ownerSecret, ownsRows, signOwner, verifyOwner } from "./server/auth/owner-cookie";
import { getServerDb } from "./server/db-handle";
import { contentSecurityPolicy, NONCE_HEADER } from "./server/http/csp";

/** A new owner cookie value when the request has no valid one, else null. */
async function ownerToSet(current: string | undefined): Promise<string | null> {
  const db = await getServerDb();
  const secret = await ownerSecret(db);
  if (verifyOwner(current, secret)) return null;
  const legacy = legacyOwner(current);
  const id = legacy && (await ownsRows(db, legacy)) ? legacy : crypto.randomUUID();
  return signOwner(id, secret);
}

export async function proxy(request: NextRequest) {
  if (request.nextUrl.pathname.startsWith("/api/")) return NextResponse.next();
  const nonce = Buffer.from(crypto.randomUUID()).toString("base64");
  const csp = contentSecurityPolicy(nonce);
  let owner: string | null = null;
  try {
    owner = await ownerToSet(request.cookies.get(OWNER_COOKIE)?.value);
  } catch (err) {
    // the database is down: the page still renders (it says so); API calls get no owner until it is back
    console.error("[proxy] cannot sign an owner cookie:", err instanceof Error ? err.message : err);
  }
  if (owner) request.cookies.set(OWNER_COOKIE, owner);
  const headers = new Headers(request.headers);
  headers.set("content-security-policy", csp);
  headers.set(NONCE_HEADER, nonce);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("content-security-policy", csp);
  if (owner) {
    response.cookies.set(OWNER_COOKIE, owner, {
      httpOnly: true,
      sameSite: "lax",
      path: "/",
      maxAge: OWNER_COOKIE_MAX_AGE_S,
      secure: request.nextUrl.protocol === "https:",
    });
  }
  return response;
}

export const config = {
  // pages (not API routes, not static assets)
  matcher: ["/((?!api/|_next/static|_next/image|favicon.ico|.*\\.(?:png|svg|ico|txt|woff2?)$).*)"],
};
