import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { getServerDb } from "@/server/db";
import { getEnv } from "@/server/env";
import { appRouter } from "@/server/root";
import { createTRPCContext } from "@/server/trpc";

export const dynamic = "force-dynamic";

const handler = async (req: Request) =>
  fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: async () => createTRPCContext({ headers: req.headers, db: await getServerDb(), env: getEnv() }),
    onError({ path, error }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`tRPC failed on ${path ?? "<no-path>"}:`, error);
    },
  });

export { handler as GET, handler as POST };
