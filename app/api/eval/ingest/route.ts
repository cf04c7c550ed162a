/**
 * POST: a finished `npm run eval` run handed over by the command line, because this server owns
 * the PGlite data directory (PGlite admits one process). It must carry the ingest secret
 * (DATA_DIR/ingest-secret, header `x-ingest-secret`): without it, 401 before the body is read.
 * GET: a fingerprint of that secret, so the CLI knows it is talking to the app that holds its
 * DATA_DIR (no paths: a visitor learns nothing about the machine).
 */
import { NextResponse } from "next/server";
import { getServerDb } from "@/server/db";
import { ingestEvalRun } from "@/server/db-queries/evals";
import { getEnv } from "@/server/env";
import { checkIngestRun, IngestRefused, ingestRunSchema } from "@/server/eval/ingest";
import { ensureIngestSecret, ingestFingerprint, ingestSecretMatches, INGEST_SECRET_HEADER } from "@/server/eval/ingest-secret";
import { routeFailure, routeFailureResponse } from "@/server/http/route-errors";
import { isSameOrigin } from "@/server/trpc";

export const dynamic = "force-dynamic";

/** Results of a full run are a few MB; anything far beyond is not ours. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export function GET() {
  const env = getEnv();
  return NextResponse.json({ database: env.DATABASE_URL ? "postgres" : "pglite", ingest: ingestFingerprint(ensureIngestSecret(env.DATA_DIR)) });
}

export async function POST(req: Request) {
  if (!isSameOrigin(req.headers)) return NextResponse.json({ error: "cross-site request refused", code: "FORBIDDEN" }, { status: 403 });
  const env = getEnv();
  if (!ingestSecretMatches(req.headers.get(INGEST_SECRET_HEADER), ensureIngestSecret(env.DATA_DIR))) {
    return NextResponse.json(
      { error: `${INGEST_SECRET_HEADER}: missing or wrong; \`npm run eval\` sends the secret from this server's DATA_DIR/ingest-secret`, code: "UNAUTHORIZED" },
      { status: 401 },
    );
  }
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
  try {
    const db = await getServerDb();
    const headline = await checkIngestRun(db, parsed.data);
    const run = await ingestEvalRun(db, { origin: "cli", ...parsed.data, headline });
    return NextResponse.json({ id: run.id, status: run.status, headline });
  } catch (err) {
    if (err instanceof IngestRefused) return NextResponse.json({ error: err.message, code: "UNPROCESSABLE" }, { status: 422 });
    return routeFailureResponse(routeFailure(err, "storing the eval run", "eval"));
  }
}
