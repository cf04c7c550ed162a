/**
 * POST: a finished `npm run eval` run handed over by the command line, because this server owns
 * the PGlite data directory (PGlite admits one process). GET: which data directory and database
 * this server owns, so the CLI knows it is talking to the app that holds its DATA_DIR.
 */
import { NextResponse } from "next/server";
import { getServerDb } from "@/server/db";
import { ingestEvalRun } from "@/server/db-queries/evals";
import { getEnv } from "@/server/env";
import { ingestRunSchema } from "@/server/eval/ingest";
import { isSameOrigin } from "@/server/trpc";

export const dynamic = "force-dynamic";

/** Results of a full run are a few MB; anything far beyond is not ours. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export function GET() {
  const env = getEnv();
  return NextResponse.json({ dataDir: env.DATA_DIR, database: env.DATABASE_URL ? "postgres" : "pglite" });
}

export async function POST(req: Request) {
  if (!isSameOrigin(req.headers)) return NextResponse.json({ error: "cross-site request refused", code: "FORBIDDEN" }, { status: 403 });
  const length = Number(req.headers.get("content-length") ?? 0);
  if (length > MAX_BODY_BYTES) return NextResponse.json({ error: `body over ${MAX_BODY_BYTES} bytes`, code: "PAYLOAD_TOO_LARGE" }, { status: 413 });
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return NextResponse.json({ error: "body is not JSON", code: "BAD_REQUEST" }, { status: 400 });
  }
  const parsed = ingestRunSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return NextResponse.json({ error: `${issue.path.join(".") || "body"}: ${issue.message}`, code: "BAD_REQUEST" }, { status: 400 });
  }
  const db = await getServerDb();
  const run = await ingestEvalRun(db, { origin: "cli", ...parsed.data });
  return NextResponse.json({ id: run.id, status: run.status });
}
