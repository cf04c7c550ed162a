/**
 * The plain route handlers' (app/api/*) one mapping of an error they did not make themselves:
 * a LoraLandError keeps its status (from its tRPC code), the database down or restarting is a
 * 503 with Retry-After (server/errors.ts, as tRPC answers it), anything else is logged and a 500
 * that shows nothing of it. Each route wraps the result in its own body shape (`{error, code}`,
 * or OpenAI's on /api/v1).
 */
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { databaseUnavailable, LoraLandError } from "../errors";

export interface RouteFailure {
  status: number;
  /** the tRPC code (SERVICE_UNAVAILABLE, ...), or INTERNAL for an error nobody meant to make */
  code: string;
  message: string;
  /** Retry-After's value, when one is known */
  headers: Record<string, string>;
}

/** `err` as the route answers it; `what` ("registering the adapter") names the work in a 500's message, `tag` its log line. */
export function routeFailure(err: unknown, what: string, tag: string): RouteFailure {
  const known = err instanceof LoraLandError ? err : databaseUnavailable(err);
  if (known) {
    const status = getHTTPStatusCodeFromError(new TRPCError({ code: known.code }));
    return { status, code: known.code, message: known.message, headers: known.retryAfterS === null ? {} : { "retry-after": String(known.retryAfterS) } };
  }
  console.error(`[${tag}] ${what} failed`, err);
  return { status: 500, code: "INTERNAL", message: `internal error while ${what} (the server's log has the details)`, headers: {} };
}

/** The `{error, code}` answer of a failure. */
export function routeFailureResponse(f: RouteFailure): Response {
  return Response.json({ error: f.message, code: f.code }, { status: f.status, headers: f.headers });
}
