/**
 * The one typed error of the web server: every refusal the app means to make (a limit, a missing
 * chat, a worker that failed) is a LoraLandError with a tRPC code (which fixes the HTTP status)
 * and, for 429/503, when to retry. server/trpc.ts turns it into the tRPC error in one place, so
 * routers throw these and never map errors themselves.
 */
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";

export type ErrorCode = TRPC_ERROR_CODE_KEY;

export class LoraLandError extends Error {
  /** seconds after which trying again can succeed (sent as Retry-After on 429); null = not known */
  readonly retryAfterS: number | null;

  constructor(
    readonly code: ErrorCode,
    message: string,
    opts: { retryAfterS?: number | null; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "LoraLandError";
    this.retryAfterS = opts.retryAfterS ?? null;
  }
}

// ── a database that is down or restarting ─────────────────────────────────────────────────────
/** Seconds a client is told to wait when the database is unreachable (a restart takes a few). */
export const DATABASE_RETRY_AFTER_S = 2;

/**
 * Error codes of a database connection that is refused, cut or not yet accepting: the socket's
 * (ECONNREFUSED...), postgres.js's own (CONNECTION_CLOSED...), and Postgres's SQLSTATEs of
 * class 08 (connection exception) and 57P0x (admin_shutdown, crash_shutdown, cannot_connect_now).
 */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT",
  "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006",
]);

const codeOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
};

/**
 * A LoraLandError (503, SERVICE_UNAVAILABLE, Retry-After) when `err` says the database cannot be
 * reached right now; null for anything else. It counts as the database's when a link of its cause
 * chain is the query layer's (drizzle's "Failed query", a PostgresError, postgres.js's
 * CONNECTION_* errors), or when the error thrown is itself a bare socket error: in this server
 * only the database driver throws those (HTTP clients wrap theirs in "fetch failed", and the
 * worker client wraps those in WorkerError).
 */
export function databaseUnavailable(err: unknown): LoraLandError | null {
  if (err instanceof LoraLandError || !(err instanceof Error)) return null;
  // a socket's own error (not a file's, not a child process's pipe)
  let fromDatabase = ["connect", "read", "write", "getaddrinfo"].includes(String((err as { syscall?: unknown }).syscall));
  let connection = false;
  let link: unknown = err;
  for (let depth = 0; link instanceof Error && depth < 8; depth++, link = link.cause) {
    const code = codeOf(link);
    if (code && CONNECTION_CODES.has(code)) connection = true;
    if (link.name === "PostgresError" || code?.startsWith("CONNECTION_") || code === "CONNECT_TIMEOUT" || link.message.startsWith("Failed query:")) fromDatabase = true;
  }
  if (!connection || !fromDatabase) return null;
  return new LoraLandError("SERVICE_UNAVAILABLE", `the database is not reachable right now (restarting or down): retry in ${DATABASE_RETRY_AFTER_S} s`, {
    retryAfterS: DATABASE_RETRY_AFTER_S,
    cause: err,
  });
}
