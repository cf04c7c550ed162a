/**
 * A local stand-in for the Hugging Face Hub that answers the way huggingface.co does (checked
 * against the Hub's documented behaviour and huggingface_hub's file_download.py):
 *   GET /api/models/{owner}/{name}/revision/{rev} -> {id, sha, siblings: [{rfilename}]}
 *   GET /{owner}/{name}/resolve/{rev}/{file}
 *     LFS file (*.safetensors): 302 to /cdn/... with X-Linked-Etag: "<sha256>", X-Linked-Size, X-Repo-Commit
 *     small git file: 200 with ETag: "<git blob sha1>" (sha1 of "blob <size>\0" + content)
 *   GET /cdn/{owner}/{name}/{file}: the bytes, honouring `Range: bytes=N-` with 206
 * A gated repo answers 401 without the token. `hits` records every request (method, url, range).
 * Faults: `cutOnce` ends the first body of a file after that many bytes (a cut connection);
 * `corrupt` serves the file with one byte flipped (the hash headers stay those of the real file);
 * `pause` sends the first `after` bytes of a file's body, then waits for `release` before the rest
 * (a slow download a test can look at while it runs, however busy the machine).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

export interface HubRepo {
  /** folder whose files the repo holds (top level only) */
  dir: string;
  gated?: boolean;
  /** extra files: name -> bytes (e.g. a shard index) */
  extra?: Record<string, Buffer>;
  /** files of `dir` left out */
  omit?: string[];
  /** file -> served as this file of `dir` */
  alias?: Record<string, string>;
}

export interface HubServer {
  url: string;
  hits: string[];
  shaOf(repo: string): string;
  cutOnce: Map<string, number>;
  corrupt: Set<string>;
  pause: Map<string, { after: number; release: Promise<void> }>;
  close(): Promise<void>;
}

export async function startHubServer(repos: Record<string, HubRepo>, token: string): Promise<HubServer> {
  const files = new Map<string, Map<string, Buffer>>();
  const shas = new Map<string, string>();
  for (const [id, r] of Object.entries(repos)) {
    const m = new Map<string, Buffer>();
    for (const f of fs.readdirSync(r.dir)) {
      if (!r.omit?.includes(f) && fs.statSync(path.join(r.dir, f)).isFile()) m.set(f, fs.readFileSync(path.join(r.dir, f)));
    }
    for (const [f, src] of Object.entries(r.alias ?? {})) m.set(f, fs.readFileSync(path.join(r.dir, src)));
    for (const [f, b] of Object.entries(r.extra ?? {})) m.set(f, b);
    files.set(id, m);
    shas.set(id, crypto.createHash("sha1").update(id).digest("hex"));
  }
  const hits: string[] = [];
  const cutOnce = new Map<string, number>();
  const corrupt = new Set<string>();
  const pause = new Map<string, { after: number; release: Promise<void> }>();
  const isLfs = (f: string) => f.endsWith(".safetensors");

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    hits.push(`${req.method} ${url.pathname}${req.headers.range ? ` ${req.headers.range}` : ""}`);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    const authorized = (repo: string) => !repos[repo].gated || req.headers.authorization === `Bearer ${token}`;

    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const repo = m[1];
      if (!files.has(repo)) return json(401, { error: "Repository not found" }); // the Hub hides missing repos behind 401 too
      if (!authorized(repo)) return json(401, { error: `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.` });
      const rev = decodeURIComponent(m[2]);
      if (rev !== "main" && rev !== shas.get(repo)) return json(404, { error: `Invalid rev id: ${rev}` });
      return json(200, { id: repo, sha: shas.get(repo), siblings: [...files.get(repo)!.keys()].map((rfilename) => ({ rfilename })) });
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const [, repo, rev, file] = m;
      const bytes = files.get(repo)?.get(decodeURIComponent(file));
      if (!bytes) return json(404, { error: "Entry not found" }, { "x-error-code": "EntryNotFound" });
      if (!authorized(repo)) return json(401, { error: "Access to model is restricted" }, { "x-error-code": "GatedRepo" });
      if (rev !== "main" && rev !== shas.get(repo)) return json(404, { error: "Revision not found" }, { "x-error-code": "RevisionNotFound" });
      if (isLfs(file)) {
        const sha256 = crypto.createHash("sha256").update(bytes).digest("hex");
        res.writeHead(302, {
          location: `/cdn/${repo}/${file}?X-Amz-Signature=test`,
          "x-linked-etag": `"${sha256}"`, "x-linked-size": String(bytes.length), etag: `"${sha256}"`, "x-repo-commit": shas.get(repo)!,
        }).end();
        return;
      }
      const gitSha = crypto.createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
      res.writeHead(200, { etag: `"${gitSha}"`, "content-length": bytes.length, "x-repo-commit": shas.get(repo)! }).end(bytes);
      return;
    }
    m = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    if (m && url.searchParams.get("X-Amz-Signature") === "test") {
      const key = `${m[1]}/${m[2]}`;
      let bytes = files.get(m[1])?.get(decodeURIComponent(m[2]));
      if (!bytes) return json(404, {});
      if (corrupt.has(key)) {
        bytes = Buffer.from(bytes);
        bytes[bytes.length - 1] ^= 0xff;
      }
      let start = 0;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range) {
        start = Number(range[1]);
        if (start >= bytes.length) return res.writeHead(416, { "content-range": `bytes */${bytes.length}` }).end();
      }
      const body = bytes.subarray(start);
      res.writeHead(range ? 206 : 200, {
        "content-length": body.length, "accept-ranges": "bytes",
        ...(range ? { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
      });
      const cut = cutOnce.get(key);
      if (cut !== undefined) {
        cutOnce.delete(key);
        res.write(body.subarray(0, cut), () => res.socket?.end()); // the connection closes mid-body (FIN: what was sent arrives)
        return;
      }
      const held = pause.get(key);
      if (held) {
        pause.delete(key);
        res.write(body.subarray(0, held.after));
        void held.release.then(() => res.end(body.subarray(held.after)));
        return;
      }
      res.end(body);
      return;
    }
    json(404, { error: "not found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    hits,
    shaOf: (repo) => shas.get(repo)!,
    cutOnce,
    corrupt,
    pause,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
