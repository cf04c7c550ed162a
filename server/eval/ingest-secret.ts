/**
 * The secret that lets `npm run eval` hand a finished run to the web app (POST /api/eval/ingest):
 * a random file under DATA_DIR, created at first start, readable by its owner only. Whoever can
 * read DATA_DIR can write the database anyway; nobody else can forge a run. The app's GET probe
 * answers a fingerprint of it (not the secret, not a path), so the CLI knows the app shares its
 * DATA_DIR.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const INGEST_SECRET_FILE = "ingest-secret";
/** the request header that carries it */
export const INGEST_SECRET_HEADER = "x-ingest-secret";

export function ingestSecretPath(dataDir: string): string {
  return path.join(/*turbopackIgnore: true*/ dataDir, INGEST_SECRET_FILE);
}

/** The secret, created if missing (exclusive create: two processes starting at once agree). */
export function ensureIngestSecret(dataDir: string): string {
  const file = ingestSecretPath(dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(32).toString("base64url"), { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return fs.readFileSync(file, "utf8").trim();
}

/** The secret if the file exists (the CLI never creates it: the app it talks to does). */
export function readIngestSecret(dataDir: string): string | null {
  try {
    return fs.readFileSync(ingestSecretPath(dataDir), "utf8").trim() || null;
  } catch {
    return null;
  }
}

/** A one-way fingerprint of the secret, for the GET probe. */
export function ingestFingerprint(secret: string): string {
  return createHash("sha256").update(`loraland-ingest-probe:${secret}`).digest("hex").slice(0, 32);
}

export function ingestSecretMatches(given: string | null, secret: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given.trim());
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}
