/**
 * The tRPC HTTP entry (app/api/trpc/[trpc]/route.ts): every call needs a valid owner or the admin
 * right (401 otherwise), every 429 (and a 503 that knows when: the database restarting) carries
 * Retry-After, and a body over 1 MB is refused with 413
 * (the largest valid call, a 32 000-character prompt with its inputs, is far below).
 */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import type { Db } from "../../db/client";
import type { Env } from "../env";
import { capBody, declaredLength } from "./body-limit";
import { retryAfterSeconds } from "../limits";
import { appRouter } from "../root";
import { LoraLandError } from "../errors";
import { assertCaller, createTRPCContext, toTRPCError } from "../trpc";

export const MAX_TRPC_BODY_BYTES = 1024 * 1024;

function tooLarge(): Response {
  const error = `request body over ${MAX_TRPC_BODY_BYTES} bytes (the limit for API calls)`;
  return Response.json({ error: { message: error, code: -32600, data: { code: "PAYLOAD_TOO_LARGE", httpStatus: 413 } } }, { status: 413 });
}

export async function handleTRPC(incoming: Request, opts: { db: () => Promise<Db>; env: Env; endpoint?: string }): Promise<Response> {
  if ((declaredLength(incoming) ?? 0) > MAX_TRPC_BODY_BYTES) return tooLarge();
  const { request: req, exceeded } = capBody(incoming, MAX_TRPC_BODY_BYTES);
  const res = await fetchRequestHandler({
    endpoint: opts.endpoint ?? "/api/trpc",
    req,
    router: appRouter,
    createContext: async () => {
      let ctx;
      try {
        ctx = await createTRPCContext({ headers: req.headers, db: await opts.db(), env: opts.env });
      } catch (e) {
        throw toTRPCError(e) ?? e; // the database down while the caller is identified: 503, not 500
      }
      assertCaller(ctx);
      return ctx;
    },
    responseMeta({ errors }) {
      const waits = errors
        .filter((e) => e.code === "TOO_MANY_REQUESTS" || (e.code === "SERVICE_UNAVAILABLE" && e.cause instanceof LoraLandError && e.cause.retryAfterS !== null))
        .map((e) => retryAfterSeconds(e.cause));
      return waits.length ? { headers: new Headers({ "retry-after": String(Math.max(...waits)) }) } : {};
    },
    onError({ path, error }) {
      if (error.code === "INTERNAL_SERVER_ERROR" && !exceeded()) console.error(`tRPC failed on ${path ?? "<no-path>"}:`, error);
    },
  });
  return exceeded() ? tooLarge() : res;
}
