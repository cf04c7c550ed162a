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
