/**
 * The tRPC HTTP entry (app/api/trpc/[trpc]/route.ts): every call needs a valid owner or the admin
 * right (401 otherwise), and every 429 carries Retry-After.
 */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import type { Db } from "../../db/client";
import type { Env } from "../env";
import { retryAfterSeconds } from "../limits";
import { appRouter } from "../root";
import { assertCaller, createTRPCContext } from "../trpc";

export function handleTRPC(req: Request, opts: { db: () => Promise<Db>; env: Env; endpoint?: string }): Promise<Response> {
  return fetchRequestHandler({
    endpoint: opts.endpoint ?? "/api/trpc",
    req,
    router: appRouter,
    createContext: async () => {
      const ctx = await createTRPCContext({ headers: req.headers, db: await opts.db(), env: opts.env });
      assertCaller(ctx);
      return ctx;
    },
    responseMeta({ errors }) {
      const waits = errors.filter((e) => e.code === "TOO_MANY_REQUESTS").map((e) => retryAfterSeconds(e.cause));
      return waits.length ? { headers: new Headers({ "retry-after": String(Math.max(...waits)) }) } : {};
    },
    onError({ path, error }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC failed on ${path ?? "<no-path>"}:`, error);
    },
  });
}
