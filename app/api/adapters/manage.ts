/**
 * Managing user adapters after upload: who may change one (its owner or the admin; bundled and
 * published adapters never), the fields people may edit (display name, description, sample
 * inputs), and the list of adapters a caller may manage. Every refusal is an UploadError.
 */
import { and, asc, eq } from "drizzle-orm";
import { adapters } from "../../../db/schema/catalog";
import type { Db } from "../../../server/db-queries/chats";
import { UploadError } from "./peft-upload";

export interface Caller {
  ownerId: string | null;
  admin: boolean;
}

export const MAX_NAME = 80;
export const MAX_DESCRIPTION = 2000;
export const MAX_SAMPLES = 10;
export const MAX_SAMPLE_VALUE = 4000;

/** The adapter row when this caller may change or remove it; a clear refusal otherwise. */
export async function manageable(db: Db, who: Caller, slug: string) {
  const [found] = await db.select().from(adapters).where(eq(adapters.slug, slug)).limit(1);
  if (!found) throw new UploadError(404, "NOT_FOUND", `id: no adapter "${slug}" in the catalog`);
  if (found.collection !== "user") throw new UploadError(403, "FORBIDDEN", `id: "${slug}" is a bundled or published adapter; it cannot be changed or removed from the web`);
  if (!who.admin && (!who.ownerId || found.ownerId !== who.ownerId)) throw new UploadError(403, "FORBIDDEN", `id: "${slug}" was added by someone else; only they or the admin can change or remove it`);
  return found;
}

export interface AdapterEdit {
  displayName?: string;
  description?: string;
  sampleInputs?: Record<string, string>[];
}

const bad = (message: string) => new UploadError(400, "BAD_REQUEST", message);

/**
 * Checks an edit: `displayName` 1–80 characters, `description` up to 2000, `sampleInputs` up to 10
 * rows of the template's columns (strings). `columns` = the adapter's input columns ([]: free-form,
 * so no samples).
 */
export function parseEdit(body: unknown, columns: string[]): AdapterEdit {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw bad("body: a JSON object {displayName?, description?, sampleInputs?}");
  const b = body as Record<string, unknown>;
  const out: AdapterEdit = {};
  for (const key of Object.keys(b)) if (!["displayName", "description", "sampleInputs"].includes(key)) throw bad(`${key}: not an editable field (displayName, description, sampleInputs)`);
  if (b.displayName !== undefined) {
    if (typeof b.displayName !== "string" || !b.displayName.trim()) throw bad("displayName: a name is required");
    if (b.displayName.trim().length > MAX_NAME) throw bad(`displayName: at most ${MAX_NAME} characters`);
    out.displayName = b.displayName.trim();
  }
  if (b.description !== undefined) {
    if (typeof b.description !== "string") throw bad("description: a string");
    if (b.description.length > MAX_DESCRIPTION) throw bad(`description: at most ${MAX_DESCRIPTION} characters`);
    out.description = b.description.trim();
  }
  if (b.sampleInputs !== undefined) {
    const rows = b.sampleInputs;
    if (!Array.isArray(rows)) throw bad("sampleInputs: a list of {column: text} rows");
    if (rows.length > MAX_SAMPLES) throw bad(`sampleInputs: at most ${MAX_SAMPLES} rows`);
    if (rows.length > 0 && columns.length === 0) throw bad("sampleInputs: this adapter has no prompt template (pick a task at upload) so it takes no sample inputs");
    out.sampleInputs = rows.map((row, i) => {
      if (typeof row !== "object" || row === null || Array.isArray(row)) throw bad(`sampleInputs.${i}: an object {column: text}`);
      const r = row as Record<string, unknown>;
      for (const k of Object.keys(r)) if (!columns.includes(k)) throw bad(`sampleInputs.${i}.${k}: not a column of the template (${columns.join(", ")})`);
      return Object.fromEntries(
        columns.map((c) => {
          const v = r[c];
          if (typeof v !== "string" || !v.trim()) throw bad(`sampleInputs.${i}.${c}: a non-empty text is required`);
          if (v.length > MAX_SAMPLE_VALUE) throw bad(`sampleInputs.${i}.${c}: at most ${MAX_SAMPLE_VALUE} characters`);
          return [c, v];
        }),
      );
    });
  }
  return out;
}

export async function updateUserAdapter(db: Db, slug: string, edit: AdapterEdit): Promise<void> {
  await db
    .update(adapters)
    .set({ ...edit, updatedAt: new Date() })
    .where(and(eq(adapters.slug, slug), eq(adapters.collection, "user")));
}

export interface ManagedAdapter {
  slug: string;
  displayName: string;
  description: string;
  task: string;
  inputColumns: string[];
  sampleInputs: Record<string, string>[];
}

/** The user adapters this caller may manage: its own, or all of them for the admin. */
export async function listManageable(db: Db, who: Caller): Promise<ManagedAdapter[]> {
  if (!who.admin && !who.ownerId) return [];
  const where = who.admin ? eq(adapters.collection, "user") : and(eq(adapters.collection, "user"), eq(adapters.ownerId, who.ownerId!));
  return db
    .select({ slug: adapters.slug, displayName: adapters.displayName, description: adapters.description, task: adapters.task, inputColumns: adapters.inputColumns, sampleInputs: adapters.sampleInputs })
    .from(adapters)
    .where(where)
    .orderBy(asc(adapters.createdAt), asc(adapters.slug));
}
