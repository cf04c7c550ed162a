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

const trimSlashes = (p: string) => p.replace(/^\/+|\/+$/g, "");

/**
 * The first path of a call (`a.b` or a batch `a.b,c.d`) that is not one of our procedures. tRPC
 * looks a path up as a plain property, so `constructor` or `__proto__` found Object's own and the
 * call never answered (the tRPC fuzzer's hangs): only the router's own keys get through.
 */
export function unknownProcedure(url: string, endpoint: string): string | null {
  const path = trimSlashes(trimSlashes(new URL(url).pathname).slice(trimSlashes(endpoint).length));
  for (const p of path.split(",")) if (!Object.hasOwn(appRouter._def.procedures, p)) return p;
  return null;
}

export async function handleTRPC(incoming: Request, opts: { db: () => Promise<Db>; env: Env; endpoint?: string }): Promise<Response> {
  const unknown = unknownProcedure(incoming.url, opts.endpoint ?? "/api/trpc");
  if (unknown !== null) {
    const message = `no procedure on path "${unknown.slice(0, 100)}"`;
    return Response.json({ error: { message, code: -32004, data: { code: "NOT_FOUND", httpStatus: 404 } } }, { status: 404 });
  }
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
