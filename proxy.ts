/**
 * Gives every browser an anonymous owner on a page load: an httpOnly, SameSite=Lax `owner` cookie
 * `<uuid>.<hmac>` signed with the server's key (server/auth/owner-cookie.ts). Set on the response
 * and on the forwarded request, so the very first page render already sees it. API calls never
 * mint one: without a valid cookie they are refused (or, for admin, served without an owner).
 * An unsigned cookie from before signing is re-signed when it owns rows, so its history stays.
 */
import { NextResponse, type NextRequest } from "next/server";
import { legacyOwner, OWNER_COOKIE, OWNER_COOKIE_MAX_AGE_S, ownerSecret, ownsRows, signOwner, verifyOwner } from "./server/auth/owner-cookie";
import { getServerDb } from "./server/db-handle";

export async function proxy(request: NextRequest) {
  if (request.nextUrl.pathname.startsWith("/api/")) return NextResponse.next();
  const current = request.cookies.get(OWNER_COOKIE)?.value;
  let value: string;
  try {
    const db = await getServerDb();
    const secret = await ownerSecret(db);
    if (verifyOwner(current, secret)) return NextResponse.next();
    const legacy = legacyOwner(current);
    const id = legacy && (await ownsRows(db, legacy)) ? legacy : crypto.randomUUID();
    value = signOwner(id, secret);
  } catch (err) {
    // the database is down: the page still renders (it says so); API calls get no owner until it is back
    console.error("[proxy] cannot sign an owner cookie:", err instanceof Error ? err.message : err);
    return NextResponse.next();
  }
  request.cookies.set(OWNER_COOKIE, value);
  const response = NextResponse.next({ request: { headers: request.headers } });
  response.cookies.set(OWNER_COOKIE, value, {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    maxAge: OWNER_COOKIE_MAX_AGE_S,
    secure: request.nextUrl.protocol === "https:",
  });
  return response;
}

export const config = {
  // pages (not API routes, not static assets)
  matcher: ["/((?!api/|_next/static|_next/image|favicon.ico|.*\\.(?:png|svg|ico|txt|woff2?)$).*)"],
};
