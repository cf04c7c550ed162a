/**
 * Upload a training dataset: `POST` multipart/form-data with one file part `file` (.csv with a
 * header row, or .jsonl; optionally .gz), at most 50 MB (the body is counted as it streams, and the
 * file again after gunzip). Any owner (signed owner cookie) or the admin; same-origin only. The
 * file is parsed once (rows, columns), stored under DATA_DIR/train/datasets/<id>/ and listed by
 * `train.datasets` for its owner; `train.preview` renders it (server/train/datasets.ts).
 * Errors: `{error, code}` with 400/401/403/413/415, the message naming the part; 503 + Retry-After
 * while the database is down.
 */
import { NextResponse } from "next/server";
import { isAdmin } from "@/server/auth/access";
import { ownerFromHeaders } from "@/server/auth/owner-cookie";
import { getServerDb } from "@/server/db";
import { getEnv } from "@/server/env";
import { capBody, declaredLength } from "@/server/http/body-limit";
import { routeFailure, routeFailureResponse } from "@/server/http/route-errors";
import { DatasetUploadError, MAX_DATASET_BYTES, storeDatasetUpload } from "@/server/train/datasets";
import { isSameOrigin } from "@/server/trpc";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const fail = (status: number, code: string, error: string) => NextResponse.json({ error, code }, { status });

export async function POST(req: Request) {
  if (!isSameOrigin(req.headers)) return fail(403, "FORBIDDEN", "cross-site request refused");
  try {
    const db = await getServerDb();
    const ownerId = await ownerFromHeaders(db, req.headers);
    const admin = isAdmin(req.headers, getEnv());
    if (!ownerId && !admin) return fail(401, "UNAUTHORIZED", "no valid owner cookie: open the site in a browser first (the page sets it), or send the admin token");
    if (!(req.headers.get("content-type") ?? "").startsWith("multipart/form-data")) return fail(415, "UNSUPPORTED_MEDIA_TYPE", "send multipart/form-data with the dataset as the file part `file`");
    // the file plus room for the form's own parts; counted as it streams, whatever Content-Length says
    const maxBody = MAX_DATASET_BYTES + 1024 * 1024;
    const length = declaredLength(req) ?? 0;
    if (length > maxBody) return fail(413, "PAYLOAD_TOO_LARGE", `file: the upload is ${length} bytes; the limit is ${MAX_DATASET_BYTES} bytes`);
    const capped = capBody(req, maxBody);
    let form: FormData;
    try {
      form = await capped.request.formData();
    } catch {
      if (capped.exceeded()) return fail(413, "PAYLOAD_TOO_LARGE", `file: the upload is over ${maxBody} bytes; the limit is ${MAX_DATASET_BYTES} bytes`);
      return fail(400, "BAD_REQUEST", "body: not a valid multipart/form-data upload");
    }
    const file = form.get("file");
    if (!(file instanceof File)) return fail(400, "BAD_REQUEST", "file: missing (send the dataset as the file part `file`)");
    const row = await storeDatasetUpload(db, { ownerId: ownerId ?? "admin", fileName: file.name || "", bytes: new Uint8Array(await file.arrayBuffer()), dataDir: getEnv().DATA_DIR });
    return NextResponse.json(row, { status: 201 });
  } catch (err) {
    if (err instanceof DatasetUploadError) return fail(err.status, err.status === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST", err.message);
    return routeFailureResponse(routeFailure(err, "storing the dataset", "train"));
  }
}
