import { getServerDb } from "@/server/db";
import { getEnv } from "@/server/env";
import { handleTRPC } from "@/server/http/trpc-handler";

export const dynamic = "force-dynamic";

const handler = (req: Request) => handleTRPC(req, { db: getServerDb, env: getEnv() });

export { handler as GET, handler as POST };
