/**
 * The one Hugging Face Hub file downloader, used for adapters (inference/adapters/hub.ts, with a
 * size cap) and base models (./model.ts, no cap, resumable). One file is streamed to `dest`
 * (never held in memory). The Hub answers `/{repo}/resolve/{rev}/{file}` for an LFS file with a
 * 302 to its CDN carrying `X-Linked-Etag: "<sha256>"` and `X-Linked-Size`; a small git file comes
 * straight back with `ETag: "<git blob sha1>"`. The body is verified against whichever of those
 * it had. With `resume`, a `dest` left by a cut download is continued with `Range: bytes=N-`.
 */
import fs from "node:fs/promises";
import crypto from "node:crypto";
import { createReadStream } from "node:fs";
import { HttpError } from "../server/errors";

export interface DownloadFileOptions {
  token: string | null;
  timeoutMs?: number;
  /** refuse the file once it passes this many bytes (adapters); undefined: no cap */
  budget?: number;
  /** keep `dest` as it is and ask for the rest with Range (base models) */
  resume?: boolean;
  /** the caller's errors: who is downloading what */
  errors: {
    what: string;
    field: string;
    unauthorized: (status: number) => HttpError;
    notFound: () => HttpError;
    tooLarge?: (detail: string) => HttpError;
  };
  /** bytes so far and the total when known */
  onProgress?: (done: number, total: number | null) => void;
}

/** What the Hub said the file hashes to: sha256 (LFS) or the git blob sha1 (small files). */
type Expected = { kind: "sha256" | "git-sha1"; hex: string } | null;

function expectedFrom(headers: Headers): Expected {
  const unq = (v: string | null) => (v ?? "").replace(/^W\//, "").replace(/"/g, "").trim().toLowerCase();
  const linked = unq(headers.get("x-linked-etag"));
  if (/^[0-9a-f]{64}$/.test(linked)) return { kind: "sha256", hex: linked };
  const etag = unq(headers.get("etag"));
  if (/^[0-9a-f]{64}$/.test(etag)) return { kind: "sha256", hex: etag };
  if (/^[0-9a-f]{40}$/.test(etag)) return { kind: "git-sha1", hex: etag };
  return null;
}

async function hashFile(file: string, exp: NonNullable<Expected>): Promise<string> {
  const size = (await fs.stat(file)).size;
  const h = crypto.createHash(exp.kind === "sha256" ? "sha256" : "sha1");
  if (exp.kind === "git-sha1") h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Streams `url` into `dest`; resolves to the file's size once it is complete and verified. */
export async function downloadFile(url: string, dest: string, o: DownloadFileOptions): Promise<number> {
  const E = o.errors;
  const unreachable = (msg: string) => new HttpError(424, "hub_unreachable", `could not download ${E.what} from ${new URL(url).origin}: ${msg}`, { field: E.field });
  const signal = AbortSignal.timeout(o.timeoutMs ?? 120_000);
  const auth: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
  let have = 0;
  if (o.resume) have = await fs.stat(dest).then((s) => s.size, () => 0);

  // first hop by hand: the hash headers are on the Hub's own answer, not on the CDN's
  let res: Response;
  let expected: Expected = null;
  let linkedSize: number | null = null;
  try {
    res = await fetch(url, { headers: { ...auth, ...(have > 0 ? { range: `bytes=${have}-` } : {}) }, redirect: "manual", signal });
    let hops = 0;
    let cur = url;
    expected = expectedFrom(res.headers);
    linkedSize = Number(res.headers.get("x-linked-size")) || null;
    while (res.status >= 300 && res.status < 400 && res.headers.get("location") && hops++ < 5) {
      const next = new URL(res.headers.get("location")!, cur);
      await res.body?.cancel().catch(() => {});
      // the token goes only to the Hub's origin (a CDN gets a signed URL)
      const sameOrigin = next.origin === new URL(url).origin;
      res = await fetch(next, { headers: { ...(sameOrigin ? auth : {}), ...(have > 0 ? { range: `bytes=${have}-` } : {}) }, redirect: "manual", signal });
      cur = next.href;
      expected ??= expectedFrom(res.headers);
    }
  } catch (e) {
    throw unreachable((e as Error).message);
  }
  if (res.status === 401 || res.status === 403) throw E.unauthorized(res.status);
  if (res.status === 404) throw E.notFound();
  if (res.status === 416 && have > 0) {
    // asked past the end: what we hold is the whole file (verified below)
    await res.body?.cancel().catch(() => {});
  } else {
    if (!res.ok || !res.body) throw new HttpError(424, "hub_error", `the Hub answered HTTP ${res.status} for ${E.what}`, { field: E.field });
    if (res.status !== 206) have = 0; // the server ignored Range: start over
    const declared = Number(res.headers.get("content-length"));
    const total = Number.isFinite(declared) && res.headers.has("content-length") ? have + declared : linkedSize;
    if (o.budget !== undefined && total !== null && total > o.budget) {
      await res.body.cancel().catch(() => {});
      throw o.errors.tooLarge!(`${E.what} has ${total} bytes`);
    }
    const out = await fs.open(dest, have > 0 ? "a" : "w");
    let size = have;
    let lastReport = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (o.budget !== undefined && size > o.budget) throw o.errors.tooLarge!(`${E.what} passed ${size} bytes`);
        await out.write(chunk); // awaited: the socket is read no faster than the disk takes it
        // every 8 MiB, or every 1% of a smaller file
        if (o.onProgress && size - lastReport >= Math.min(8 << 20, Math.max(1 << 16, (total ?? Infinity) / 100))) {
          lastReport = size;
          o.onProgress(size, total);
        }
      }
    } catch (e) {
      await res.body.cancel().catch(() => {});
      if (e instanceof HttpError) throw e;
      throw new HttpError(424, "hub_unreachable", `the download of ${E.what} failed after ${size} bytes: ${(e as Error).message}`, { field: E.field });
    } finally {
      await out.close();
    }
    o.onProgress?.(size, total);
  }
  const size = (await fs.stat(dest)).size;
  if (expected) {
    const got = await hashFile(dest, expected);
    if (got !== expected.hex) {
      await fs.rm(dest, { force: true }); // a resumed file with a bad start would never heal
      throw new HttpError(424, "hub_checksum", `${E.what} does not match the Hub's ${expected.kind} (${expected.hex.slice(0, 12)}…, got ${got.slice(0, 12)}…); the partial file was deleted, run again to download it anew`, { field: E.field });
    }
  }
  return size;
}
