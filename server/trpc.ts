/**
 * tRPC setup, in three parts (as create-t3-app lays it out):
 * 1. context: the db, the env, the anonymous owner (httpOnly `owner` cookie set by proxy.ts),
 *    the request headers;
 * 2. initialization: superjson, zod-aware error shape, SSE settings for subscriptions;
 * 3. router and procedures: `publicProcedure`, `ownerProcedure` (needs the owner cookie) and
 *    `mutationProcedure` (owner + same-origin check: state-changing calls cannot come from another site).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, z } from "zod";
import type { Db } from "../db/client";
import type { Env } from "./env";

// ── 1. context ────────────────────────────────────────────────────────────────────────────────
export const OWNER_COOKIE = "owner";
const OWNER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface TRPCContext {
  db: Db;
  env: Env;
  /** anonymous owner id (a UUID from the httpOnly cookie), null when the request carries none */
  ownerId: string | null;
  headers: Headers;
}

/** The owner id from a Cookie header, if it is a well-formed one. */
export function ownerFromCookieHeader(cookie: string | null): string | null {
  if (!cookie) return null;
  for (const part of cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === OWNER_COOKIE) {
      const id = decodeURIComponent(v.join("=")).toLowerCase();
      return OWNER_ID.test(id) ? id : null;
    }
  }
  return null;
}

export function isOwnerId(id: string): boolean {
  return OWNER_ID.test(id);
}

export async function createTRPCContext(opts: { headers: Headers; db: Db; env: Env }): Promise<TRPCContext> {
  return { ...opts, ownerId: ownerFromCookieHeader(opts.headers.get("cookie")) };
}

/**
 * Is this request from our own pages? Browsers send `Origin` on cross-site and on POST requests,
 * and `Sec-Fetch-Site`; a request without either (curl, server-side callers) is not a browser
 * acting for another site, so it passes.
 */
export function isSameOrigin(headers: Headers): boolean {
  const site = headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return false;
  const origin = headers.get("origin");
  if (!origin) return true;
  const host = headers.get("x-forwarded-host") ?? headers.get("host");
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Throws FORBIDDEN unless the request is same-origin (for state-changing routes outside tRPC too). */
export function assertSameOrigin(headers: Headers): void {
  if (!isSameOrigin(headers)) {
    throw new TRPCError({ code: "FORBIDDEN", message: "cross-site request refused: state-changing calls must come from this site" });
  }
}

// ── 2. initialization ─────────────────────────────────────────────────────────────────────────
const t = initTRPC.context<TRPCContext>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    return {
      ...shape,
      data: {
        ...shape.data,
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
      },
    };
  },
  sse: {
    ping: { enabled: true, intervalMs: 2_000 },
    client: { reconnectAfterInactivityMs: 5_000 },
  },
});

// ── 3. router and procedures ──────────────────────────────────────────────────────────────────
export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
export const middleware = t.middleware;

export const publicProcedure = t.procedure;

/** Needs the anonymous owner (history, shares): `ctx.ownerId` is a string. */
export const ownerProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.ownerId) throw new TRPCError({ code: "UNAUTHORIZED", message: "missing owner cookie: reload the page" });
  return next({ ctx: { ...ctx, ownerId: ctx.ownerId } });
});

/** State-changing calls of an owner: same-origin only. */
export const mutationProcedure = ownerProcedure.use(({ ctx, next }) => {
  assertSameOrigin(ctx.headers);
  return next();
});
