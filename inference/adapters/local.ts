/**
 * Local adapter sources: the configured adapter roots (the `--adapters` folder, `--adapter-root`
 * folders, `${DATA_DIR}/adapters` where the web app writes uploads, the Hub cache). A path a client
 * names is only served when its real path (symlinks resolved) lies inside one of these roots, so
 * neither `../` nor a symlink can reach other files.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { HttpError } from "../server/errors";

/** adapter ids: folder names and Hub repo ids (`org/name`); no `..`, no leading slash */
const ADAPTER_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)?$/;

export function checkAdapterId(id: string, field = "adapter_id"): string {
  if (id.length > 200 || !ADAPTER_ID.test(id) || id.split("/").some((part) => part === "." || part === "..")) {
    throw new HttpError(422, "invalid_request", `${field} "${id.slice(0, 80)}" is not a valid adapter id (letters, digits, . _ - and at most one /)`, { field });
  }
  return id;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

async function realpathOrNull(p: string): Promise<string | null> {
  try {
    return await fs.realpath(p);
  } catch {
    return null;
  }
}

export class AdapterRoots {
  private readonly roots: string[];

  constructor(roots: string[]) {
    this.roots = [...new Set(roots.map((r) => path.resolve(r)))];
  }

  list(): string[] {
    return [...this.roots];
  }

  /** the real path of `root` when it exists */
  private async realRoots(): Promise<string[]> {
    const out: string[] = [];
    for (const r of this.roots) {
      const real = await realpathOrNull(r);
      if (real) out.push(real);
    }
    return out;
  }

  /**
   * Resolve a client-given adapter path (absolute, or relative to a root) to the real path of a
   * PEFT adapter folder inside a root. 422 (naming `field`) when it escapes the roots, 404 when
   * there is no adapter there.
   */
  async resolve(p: string, field: string): Promise<string> {
    if (p.includes("\0")) throw new HttpError(422, "invalid_request", `${field}: the path contains a NUL byte`, { field });
    const roots = await this.realRoots();
    const candidates = path.isAbsolute(p) ? [path.resolve(p)] : this.roots.map((r) => path.resolve(r, p));
    let escaped = false;
    for (const cand of candidates) {
      const lexicalOk = this.roots.some((r) => inside(r, cand)) || roots.some((r) => inside(r, cand));
      if (!lexicalOk) {
        escaped = true;
        continue;
      }
      const real = await realpathOrNull(cand);
      if (!real) continue;
      const root = roots.find((r) => inside(r, real));
      if (!root || real === root) {
        escaped = escaped || !root;
        continue;
      }
      // the files themselves must not be symlinks out of the root either
      for (const file of ["adapter_config.json", "adapter_model.safetensors"]) {
        const rf = await realpathOrNull(path.join(real, file));
        if (rf && !inside(root, rf)) {
          throw new HttpError(422, "invalid_request", `${field}: ${file} of "${p}" links outside the adapter roots`, { field });
        }
      }
      const stat = await fs.stat(real);
      if (!stat.isDirectory()) throw new HttpError(422, "invalid_request", `${field}: "${p}" is not a directory`, { field });
      return real;
    }
    if (escaped) {
      throw new HttpError(422, "invalid_request", `${field}: "${p}" is outside the adapter roots; only folders under the configured adapter roots are served`, { field });
    }
    throw new HttpError(404, "adapter_not_found", `${field}: no adapter folder "${p}" under the adapter roots`, { field });
  }
}

/** Subfolders of `dir` holding an `adapter_config.json`; the folder name is the adapter id. */
export async function scanAdapterDir(dir: string): Promise<{ id: string; dir: string }[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: { id: string; dir: string }[] = [];
  for (const ent of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!ent.isDirectory() && !ent.isSymbolicLink()) continue;
    if (ent.name.startsWith(".")) continue;
    const sub = path.join(dir, ent.name);
    try {
      await fs.access(path.join(sub, "adapter_config.json"));
    } catch {
      continue;
    }
    if (!ADAPTER_ID.test(ent.name)) continue;
    out.push({ id: ent.name, dir: sub });
  }
  return out;
}
