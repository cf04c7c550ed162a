/**
 * The admin token, presented once: `POST {token}` checks it against ADMIN_TOKEN and sets the
 * httpOnly, SameSite=Strict `admin` cookie (an HMAC of the token, never the token); `DELETE`
 * signs out. Errors: `{error, code}` with 400/403/409.
 */
import { NextResponse } from "next/server";
import { ADMIN_COOKIE, adminCookieValue, checkAdminToken } from "@/server/auth/access";
import { getEnv } from "@/server/env";
import { isSameOrigin } from "@/server/trpc";

export const dynamic = "force-dynamic";

const refuse = (status: number, code: string, error: string) => NextResponse.json({ error, code }, { status });

export async function POST(req: Request) {
  if (!isSameOrigin(req.headers)) return refuse(403, "FORBIDDEN", "cross-site request refused");
  const env = getEnv();
  if (!env.ADMIN_TOKEN) return refuse(409, "NO_ADMIN_TOKEN", "this server has no ADMIN_TOKEN: the admin is whoever uses it from the machine itself (loopback)");
  const body = (await req.json().catch(() => null)) as { token?: unknown } | null;
  if (typeof body?.token !== "string" || body.token.length === 0 || body.token.length > 1000) return refuse(400, "BAD_REQUEST", "token: a non-empty string");
  if (!checkAdminToken(body.token, env)) return refuse(403, "FORBIDDEN", "token: not this server's ADMIN_TOKEN");
  const res = NextResponse.json({ admin: true });
  res.cookies.set(ADMIN_COOKIE, adminCookieValue(env.ADMIN_TOKEN), {
    httpOnly: true,
    sameSite: "strict",
    path: "/",
    maxAge: 60 * 60 * 24 * 30,
    secure: new URL(req.url).protocol === "https:" || req.headers.get("x-forwarded-proto") === "https",
  });
  return res;
}

export function DELETE(req: Request) {
  if (!isSameOrigin(req.headers)) return refuse(403, "FORBIDDEN", "cross-site request refused");
  const res = NextResponse.json({ admin: false });
  res.cookies.set(ADMIN_COOKIE, "", { httpOnly: true, sameSite: "strict", path: "/", maxAge: 0 });
  return res;
}
