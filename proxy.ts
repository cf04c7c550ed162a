/**
 * Gives every visitor an anonymous owner id: an httpOnly, SameSite=Lax `owner` cookie (history
 * and shares hang on it). Set on the response and on the forwarded request, so the very first
 * page render already sees it.
 */
import { NextResponse, type NextRequest } from "next/server";

const OWNER_COOKIE = "owner";
const OWNER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function proxy(request: NextRequest) {
  const current = request.cookies.get(OWNER_COOKIE)?.value;
  if (current && OWNER_ID.test(current)) return NextResponse.next();

  const id = crypto.randomUUID();
  request.cookies.set(OWNER_COOKIE, id);
  const response = NextResponse.next({ request: { headers: request.headers } });
  response.cookies.set(OWNER_COOKIE, id, {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    maxAge: 60 * 60 * 24 * 365 * 2,
    secure: request.nextUrl.protocol === "https:",
  });
  return response;
}

export const config = {
  // pages and API routes; not static assets
  matcher: ["/((?!_next/static|_next/image|favicon.ico|.*\\.(?:png|svg|ico|txt|woff2?)$).*)"],
};
