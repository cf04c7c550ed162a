import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { getServerDb } from "@/server/db";
import { getEnv } from "@/server/env";
import { retryAfterSeconds } from "@/server/limits";
import { appRouter } from "@/server/root";
import { assertCaller, createTRPCContext } from "@/server/trpc";

export const dynamic = "force-dynamic";

const handler = async (req: Request) =>
  fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: async () => {
      const ctx = await createTRPCContext({ headers: req.headers, db: await getServerDb(), env: getEnv() });
      assertCaller(ctx);
      return ctx;
    },
    // every 429 says when to come back
    responseMeta({ errors }) {
      const waits = errors.filter((e) => e.code === "TOO_MANY_REQUESTS").map((e) => retryAfterSeconds(e.cause));
      return waits.length ? { headers: new Headers({ "retry-after": String(Math.max(...waits)) }) } : {};
    },
    onError({ path, error }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC failed on ${path ?? "<no-path>"}:`, error);
    },
  });

export { handler as GET, handler as POST };
