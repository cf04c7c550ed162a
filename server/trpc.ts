/**
 * tRPC setup, in three parts (as create-t3-app lays it out):
 * 1. context: the db, the env, the anonymous owner (signed httpOnly `owner` cookie set by
 *    proxy.ts), the admin right, the client's address, the request headers;
 * 2. initialization: superjson, zod-aware error shape, SSE settings for subscriptions, and the one
 *    mapping of the app's typed errors (LoraLandError, server/errors.ts) to tRPC errors;
 * 3. router and procedures: `publicProcedure`, `ownerProcedure` (needs the owner cookie),
 *    `mutationProcedure` (owner + same-origin check: state-changing calls cannot come from another
 *    site) and `adminMutationProcedure` (admin + same-origin).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, z } from "zod";
import type { Db } from "../db/client";
import { clientAddress, isAdmin } from "./auth/access";
import { ownerFromHeaders } from "./auth/owner-cookie";
import type { Env } from "./env";
import { databaseUnavailable, LoraLandError } from "./errors";

// ── 1. context ────────────────────────────────────────────────────────────────────────────────
export { OWNER_COOKIE, isOwnerId } from "./auth/owner-cookie";

export interface TRPCContext {
  db: Db;
  env: Env;
  /** anonymous owner id (the UUID of a validly signed `owner` cookie), null when there is none */
  ownerId: string | null;
  /** the admin right (server/auth/access.ts); absent = no */
  admin?: boolean;
  /** the client's address, for per-address limits; absent = unknown */
  clientAddress?: string;
  headers: Headers;
}

export async function createTRPCContext(opts: { headers: Headers; db: Db; env: Env }): Promise<TRPCContext> {
  return {
    ...opts,
    ownerId: await ownerFromHeaders(opts.db, opts.headers),
    admin: isAdmin(opts.headers, opts.env),
    clientAddress: clientAddress(opts.headers, opts.env),
  };
}

/**
 * An HTTP API call needs a valid owner (minted on a page load) or the admin right: a client that
 * sends no cookie, or one it made up, gets 401 instead of a fresh identity per request.
 */
export function assertCaller(ctx: TRPCContext): void {
  if (!ctx.ownerId && !ctx.admin) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "no valid owner cookie: open the site in a browser first (the page sets it), then retry" });
  }
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
/**
 * The one place where errors become tRPC errors: a LoraLandError keeps its code (and so its HTTP
 * status; a 429's or 503's Retry-After is read from it by server/http/trpc-handler.ts); a
 * database that cannot be reached (restarting, down) is a 503 to retry, not a 500. Anything else
 * thrown is left to tRPC (500).
 */
export function toTRPCError(cause: unknown): TRPCError | null {
  if (cause instanceof TRPCError) return cause;
  const known = cause instanceof LoraLandError ? cause : databaseUnavailable(cause);
  if (known) return new TRPCError({ code: known.code, message: known.message, cause: known });
  return null;
}

/** A subscription's events, with whatever its generator throws mapped like any other error. */
async function* mappedIterable<T>(events: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  try {
    yield* events;
  } catch (e) {
    throw toTRPCError(e) ?? e;
  }
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  typeof v === "object" && v !== null && typeof (v as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function";

/** What a client is told about an error the server did not mean to make (the log has the rest). */
export const INTERNAL_MESSAGE = "internal server error (the server's log has the details)";

const t = initTRPC.context<TRPCContext>().create({
  transformer: superjson,
  // stacks only under `next dev` (tRPC's default also sends them in tests and other non-production runs)
  isDev: process.env.NODE_ENV === "development",
  errorFormatter({ shape, error }) {
    // an unexpected error's message can hold internals (the failed SQL query, a path): the client
    // gets a plain one, the server's log the whole error (trpc-handler's onError)
    const unexpected = error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof LoraLandError);
    return {
      ...shape,
      message: unexpected ? INTERNAL_MESSAGE : shape.message,
      data: {
        ...shape.data,
        zodError: error.cause instanceof ZodError ? z.flattenError(error.cause) : null,
        // when to try again (a 429, a 503): also where no header can carry it (a subscription's error event)
        ...(error.cause instanceof LoraLandError && error.cause.retryAfterS !== null ? { retryAfterS: error.cause.retryAfterS } : {}),
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

/** Applied to every procedure: errors thrown by a resolver, or later by a subscription's generator. */
const mapErrors = middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    if (result.error.code === "INTERNAL_SERVER_ERROR") {
      const mapped = toTRPCError(result.error.cause);
      if (mapped) throw mapped;
    }
    return result;
  }
  if (isAsyncIterable(result.data)) return { ...result, data: mappedIterable(result.data) };
  return result;
});

/** Where `v` holds a string (a value or a key) that `bad` finds, as `inputs.y`, `stop.1`, `inputs."k"`; or null. */
function textPath(v: unknown, bad: (s: string) => boolean, path = "", depth = 0): string | null {
  const at = (k: string | number) => (path ? `${path}.${k}` : String(k));
  if (typeof v === "string") return bad(v) ? path || "input" : null;
  if (depth > 64 || v === null || typeof v !== "object") return null;
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const found = textPath(x, bad, at(i), depth + 1);
      if (found) return found;
    }
    return null;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return null; // Date, Map...: no schema takes them
  for (const [k, x] of Object.entries(v)) {
    if (bad(k)) return at(JSON.stringify(k));
    const found = textPath(x, bad, at(k), depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * Where `v` holds a string with U+0000 (`inputs.y`, `prompt`), or null. Postgres stores no NUL in
 * text or jsonb, so such an input would fail at the database; it is refused first, naming the field.
 */
export const nulPath = (v: unknown): string | null => textPath(v, (s) => s.includes("\u0000"));

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/**
 * Where `v` holds a string with an unpaired UTF-16 surrogate (not text in any encoding), or null:
 * jsonb refuses its escape ("\udc00"), so a preset or run holding one failed as a 500 (the fuzzer's).
 */
export const loneSurrogatePath = (v: unknown): string | null => textPath(v, (s) => LONE_SURROGATE.test(s));

/** Keys superjson refuses to serialize ("prototype pollution risk"): stored, they made every later answer carrying them a 500. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Where `v` has an object key named `__proto__`, `constructor` or `prototype` (`inputs.constructor`), or null. */
export function prototypeKeyPath(v: unknown, path = "", depth = 0): string | null {
  if (depth > 64 || v === null || typeof v !== "object") return null;
  const at = (k: string | number) => (path ? `${path}.${k}` : String(k));
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const found = prototypeKeyPath(x, at(i), depth + 1);
      if (found) return found;
    }
    return null;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return null;
  for (const k of Object.getOwnPropertyNames(v)) {
    if (PROTOTYPE_KEYS.has(k)) return at(k);
    const found = prototypeKeyPath((v as Record<string, unknown>)[k], at(k), depth + 1);
    if (found) return found;
  }
  return null;
}

const refuseNul = middleware(async ({ getRawInput, next }) => {
  const raw = await getRawInput().catch(() => undefined);
  const found = nulPath(raw);
  if (found) throw new TRPCError({ code: "BAD_REQUEST", message: `${found}: text may not contain NUL characters (U+0000)` });
  const lone = loneSurrogatePath(raw);
  if (lone) throw new TRPCError({ code: "BAD_REQUEST", message: `${lone}: text may not contain an unpaired surrogate (invalid UTF-16)` });
  const key = prototypeKeyPath(raw);
  if (key) throw new TRPCError({ code: "BAD_REQUEST", message: `${key}: "${key.split(".").pop()}" is not allowed as a key` });
  return next();
});

export const publicProcedure = t.procedure.use(mapErrors).use(refuseNul);

const requireOwner = middleware(({ ctx, next }) => {
  if (!ctx.ownerId) throw new TRPCError({ code: "UNAUTHORIZED", message: "missing owner cookie: reload the page" });
  return next({ ctx: { ...ctx, ownerId: ctx.ownerId } });
});

const sameOrigin = middleware(({ ctx, next }) => {
  assertSameOrigin(ctx.headers);
  return next();
});

/** Needs the anonymous owner (history, shares): `ctx.ownerId` is a string. */
export const ownerProcedure = publicProcedure.use(requireOwner);

/** State-changing calls of an owner: same-origin only (checked first: a cross-site call is refused whatever it carries). */
export const mutationProcedure = publicProcedure.use(sameOrigin).use(requireOwner);

/** Changes to what every user sees (the catalog's headline figures, shared adapters): the admin right, same-origin. */
export const adminMutationProcedure = publicProcedure.use(sameOrigin).use(({ ctx, next }) => {
  if (!ctx.admin) throw new TRPCError({ code: "FORBIDDEN", message: "admin only: present ADMIN_TOKEN (on /admin, or as Authorization: Bearer)" });
  return next();
});
