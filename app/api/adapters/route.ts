/**
 * Bring your own adapter.
 * - `POST` multipart/form-data: `id` (lowercase letters, digits, . _ -), the files
 *   `adapter_config.json` and `adapter_model.safetensors` (at most 64 MB in all), optional `task`
 *   (a task card slug whose template and metric it uses). Validated (JSON, safetensors header,
 *   shapes vs the served base model), written atomically to DATA_DIR/adapters/<id>, registered with
 *   the worker (`POST /adapters {id, source: "local", path}`), listed in the catalog.
 * - `POST` application/json `{id?, repo, task?}`: register a Hugging Face repo, downloaded by the
 *   worker (`POST /adapters {id, source: "hub", repo}`).
 *   Optional `description` and `sample_inputs` (a JSON list of {column: text} rows of the task's template).
 * - `DELETE ?id=`: remove an uploaded/registered adapter.
 * - `PATCH ?id=` application/json `{displayName?, description?, sampleInputs?}`: rename it, describe it.
 * - `GET`: the user adapters the caller may manage (its own; all of them for the admin).
 * Who may: any owner (a signed owner cookie) uploads, and registers a Hub repo the catalog lists;
 * other repos need the admin right. An adapter is removed by the owner who added it or an admin;
 * the bundled and published adapters are not removable from the web. No owner and no admin → 401.
 * Errors: `{error, code}` with 400/401/403/404/409/413/422/503 (the worker, or the database, down:
 * Retry-After when known); a rejected upload leaves nothing behind.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { NextResponse } from "next/server";
import { getServerDb } from "@/server/db";
import { capBody, declaredLength } from "@/server/http/body-limit";
import { routeFailure, routeFailureResponse } from "@/server/http/route-errors";
import { isAdmin } from "@/server/auth/access";
import { ownerFromHeaders } from "@/server/auth/owner-cookie";
import { addUserAdapter, adapterSlugTaken, catalogListsRepo, removeUserAdapter } from "@/server/db-queries/evals";
import { getEnv, inferenceUrl } from "@/server/env";
import { loadTaskCards, type TaskCard } from "@/server/eval/tasks";
import { registerAdapter, servedModelId, unregisterAdapter, WorkerError } from "@/server/inference/client";
import { isSameOrigin } from "@/server/trpc";
import {
  ADAPTER_ID,
  type BaseShape,
  checkShapes,
  CONFIG_FILE,
  MAX_UPLOAD_BYTES,
  parseAdapterConfig,
  parseSafetensorsHeader,
  UploadError,
  WEIGHTS_FILE,
  writeAdapterDir,
} from "./peft-upload";
import { type Caller, listManageable, manageable, parseEdit, updateUserAdapter } from "./manage";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const HF_REPO = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

function fail(err: UploadError) {
  return NextResponse.json({ error: err.message, code: err.code }, { status: err.status });
}

/** The served base: its id from /info, and its shape from MODEL_DIR/config.json when it is our bundled worker's model. */
async function servedBase(): Promise<{ modelId: string; shape: BaseShape | null }> {
  const env = getEnv();
  let modelId: string;
  try {
    modelId = await servedModelId(inferenceUrl(env), env.INFERENCE_PROTOCOL);
  } catch (err) {
    if (!(err instanceof WorkerError)) throw err;
    throw new UploadError(503, "WORKER_OFFLINE", `${err.message}: start it, then register the adapter`);
  }
  let shape: BaseShape | null = null;
  if (!env.INFERENCE_URL) {
    shape = JSON.parse(await fs.readFile(path.join(env.MODEL_DIR, "config.json"), "utf8")) as BaseShape;
  }
  return { modelId, shape };
}

function taskCard(slug: FormDataEntryValue | string | null | undefined): TaskCard | null {
  if (slug === null || slug === undefined || slug === "") return null;
  const card = typeof slug === "string" ? loadTaskCards().find((c) => c.slug === slug) : undefined;
  if (!card) throw new UploadError(400, "BAD_REQUEST", `task: no task card "${String(slug)}"`);
  return card;
}

const taskOf = (card: TaskCard | null) =>
  card && { slug: card.slug, name: card.name, category: card.category, promptTemplate: card.prompt_template, inputColumns: card.input_columns, outputColumn: card.output_column, metric: card.metric };

async function checkId(id: unknown): Promise<string> {
  if (typeof id !== "string" || !ADAPTER_ID.test(id)) throw new UploadError(400, "BAD_REQUEST", "id: 1-64 characters, lowercase letters, digits, '.', '_' or '-', starting with a letter or digit");
  if (id === "base" || (await adapterSlugTaken(await getServerDb(), { slug: id }))) throw new UploadError(409, "ADAPTER_EXISTS", `id: an adapter "${id}" is already in the catalog: pick another id`);
  return id;
}

/** Register with the worker (a Hub download may take minutes); on refusal the caller rolls back. */
async function registerWithWorker(payload: { id: string; source: "local" | "hub"; path?: string; repo?: string }): Promise<void> {
  const url = inferenceUrl(getEnv());
  try {
    await registerAdapter(url, payload, AbortSignal.timeout(120_000));
  } catch (err) {
    if (!(err instanceof WorkerError)) throw err;
    if (err.status === 0) throw new UploadError(503, "WORKER_OFFLINE", `${err.message}: start it, then register the adapter`);
    // an error body is the worker judging the adapter; a bare 404/405 is a server without /adapters (e.g. vLLM)
    if ((err.status === 404 || err.status === 405) && err.errorType === "http_error") throw new UploadError(503, "WORKER_UNSUPPORTED", "the inference server does not accept adapter registrations (POST /adapters)");
    throw new UploadError(422, "WORKER_REFUSED", `the worker refused the adapter: ${err.message}`);
  }
}

/** The upload's optional description and sample inputs, as an edit (checked like PATCH's). */
function describedBy(form: FormData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const description = form.get("description");
  if (typeof description === "string" && description.trim()) out.description = description;
  const samples = form.get("sample_inputs");
  if (typeof samples === "string" && samples.trim()) {
    try {
      out.sampleInputs = JSON.parse(samples);
    } catch {
      throw new UploadError(400, "BAD_REQUEST", "sample_inputs: not valid JSON (a list of {column: text} rows)");
    }
  }
  return out;
}

function fileFrom(form: FormData, name: string): File | null {
  const direct = form.get(name);
  if (direct instanceof File) return direct;
  for (const v of form.values()) if (v instanceof File && path.basename(v.name) === name) return v;
  return null;
}

/** The owner (signed cookie) and the admin right of a request; neither → 401. */
async function caller(req: Request): Promise<Caller> {
  const c = { ownerId: await ownerFromHeaders(await getServerDb(), req.headers), admin: isAdmin(req.headers, getEnv()) };
  if (!c.ownerId && !c.admin) throw new UploadError(401, "UNAUTHORIZED", "no valid owner cookie: open the site in a browser first (the page sets it), or send the admin token");
  return c;
}

async function upload(req: Request, who: Caller): Promise<NextResponse> {
  // the files plus room for the form's own parts; counted as it streams, whatever Content-Length says
  const maxBody = MAX_UPLOAD_BYTES + 1024 * 1024;
  const length = declaredLength(req) ?? 0;
  if (length > maxBody) throw new UploadError(413, "PAYLOAD_TOO_LARGE", `upload is ${length} bytes; the limit is ${MAX_UPLOAD_BYTES} bytes`);
  const capped = capBody(req, maxBody);
  let form: FormData;
  try {
    form = await capped.request.formData();
  } catch {
    if (capped.exceeded()) throw new UploadError(413, "PAYLOAD_TOO_LARGE", `upload is over ${maxBody} bytes; the limit is ${MAX_UPLOAD_BYTES} bytes`);
    throw new UploadError(400, "BAD_REQUEST", `body: not a valid multipart/form-data upload (at most ${MAX_UPLOAD_BYTES} bytes)`);
  }
  const configFile = fileFrom(form, CONFIG_FILE);
  const weightsFile = fileFrom(form, WEIGHTS_FILE);
  if (!configFile) throw new UploadError(400, "BAD_REQUEST", `${CONFIG_FILE}: missing (send it as a file part)`);
  if (!weightsFile) throw new UploadError(400, "BAD_REQUEST", `${WEIGHTS_FILE}: missing (send it as a file part)`);
  if (configFile.size + weightsFile.size > MAX_UPLOAD_BYTES) throw new UploadError(413, "PAYLOAD_TOO_LARGE", `the adapter is ${configFile.size + weightsFile.size} bytes; the limit is ${MAX_UPLOAD_BYTES} bytes`);
  const id = await checkId(form.get("id"));
  const card = taskCard(form.get("task"));
  const edit = parseEdit(describedBy(form), card?.input_columns ?? []);

  const config = new Uint8Array(await configFile.arrayBuffer());
  const weights = new Uint8Array(await weightsFile.arrayBuffer());
  const lora = parseAdapterConfig(new TextDecoder().decode(config));
  const tensors = parseSafetensorsHeader(weights);
  const base = await servedBase();
  const { pairs } = base.shape ? checkShapes(tensors, lora, base.shape) : { pairs: null };

  const env = getEnv();
  const dir = await writeAdapterDir(path.join(env.DATA_DIR, "adapters"), id, { config, weights });
  try {
    await registerWithWorker({ id, source: "local", path: dir });
    const db = await getServerDb();
    await addUserAdapter(db, { slug: id, adapterId: id, baseModelId: base.modelId, hfRepo: null, description: `Uploaded LoRA adapter (r=${lora.r}, ${lora.targetModules.join(", ")}).`, task: taskOf(card), ownerId: who.ownerId });
    if (Object.keys(edit).length > 0) await updateUserAdapter(db, id, edit);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    await unregisterAdapter(inferenceUrl(env), id);
    throw err;
  }
  return NextResponse.json({ id, slug: id, source: "local", rank: lora.r, targetModules: lora.targetModules, pairs, bytes: weights.byteLength }, { status: 201 });
}

async function registerHub(req: Request, who: Caller): Promise<NextResponse> {
  let body: { id?: unknown; repo?: unknown; task?: unknown };
  try {
    body = (await req.json()) as typeof body;
  } catch {
    throw new UploadError(400, "BAD_REQUEST", "body: not valid JSON");
  }
  if (typeof body.repo !== "string" || !HF_REPO.test(body.repo)) throw new UploadError(400, "BAD_REQUEST", 'repo: a Hugging Face repo id like "predibase/conllpp"');
  if (!who.admin && !(await catalogListsRepo(await getServerDb(), { repo: body.repo }))) {
    throw new UploadError(403, "FORBIDDEN", `repo: "${body.repo}" is not in the catalog; registering other Hub repos needs the admin right (ADMIN_TOKEN)`);
  }
  const id = await checkId(body.id ?? body.repo.split("/")[1]!.toLowerCase());
  const card = taskCard(typeof body.task === "string" ? body.task : null);
  const base = await servedBase();
  await registerWithWorker({ id, source: "hub", repo: body.repo });
  try {
    await addUserAdapter(await getServerDb(), { slug: id, adapterId: id, baseModelId: base.modelId, hfRepo: body.repo, description: `LoRA adapter ${body.repo} from the Hugging Face Hub.`, task: taskOf(card), ownerId: who.ownerId });
  } catch (err) {
    await unregisterAdapter(inferenceUrl(getEnv()), id);
    throw err;
  }
  return NextResponse.json({ id, slug: id, source: "hub", repo: body.repo }, { status: 201 });
}

export async function POST(req: Request) {
  if (!isSameOrigin(req.headers)) return fail(new UploadError(403, "FORBIDDEN", "cross-site request refused"));
  try {
    const who = await caller(req);
    const type = req.headers.get("content-type") ?? "";
    if (type.startsWith("multipart/form-data")) return await upload(req, who);
    if (type.startsWith("application/json")) return await registerHub(req, who);
    return fail(new UploadError(415, "UNSUPPORTED_MEDIA_TYPE", "send multipart/form-data (an adapter folder) or application/json ({repo})"));
  } catch (err) {
    return failed(err, "registering the adapter");
  }
}

/** An UploadError as itself; the database down as a 503 to retry; anything else a logged 500. */
function failed(err: unknown, what: string) {
  if (err instanceof UploadError) return fail(err);
  return routeFailureResponse(routeFailure(err, what, "adapters"));
}

function idParam(req: Request): string {
  const id = new URL(req.url).searchParams.get("id") ?? "";
  if (!ADAPTER_ID.test(id)) throw new UploadError(400, "BAD_REQUEST", "id: not a valid adapter id");
  return id;
}

/** Remove a user adapter (catalog entry, worker registration, stored files): its owner or the admin. */
export async function DELETE(req: Request) {
  if (!isSameOrigin(req.headers)) return fail(new UploadError(403, "FORBIDDEN", "cross-site request refused"));
  try {
    const who = await caller(req);
    const id = idParam(req);
    const db = await getServerDb();
    await manageable(db, who, id);
    const env = getEnv();
    await removeUserAdapter(db, { slug: id });
    await unregisterAdapter(inferenceUrl(env), id);
    await fs.rm(path.join(env.DATA_DIR, "adapters", id), { recursive: true, force: true });
    return NextResponse.json({ id, removed: true });
  } catch (err) {
    return failed(err, "removing the adapter");
  }
}

/** Rename a user adapter (its display name; the id the worker serves stays), or set its description and sample inputs. */
export async function PATCH(req: Request) {
  if (!isSameOrigin(req.headers)) return fail(new UploadError(403, "FORBIDDEN", "cross-site request refused"));
  try {
    const who = await caller(req);
    const id = idParam(req);
    const db = await getServerDb();
    const row = await manageable(db, who, id);
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      throw new UploadError(400, "BAD_REQUEST", "body: not valid JSON");
    }
    const edit = parseEdit(body, row.inputColumns);
    await updateUserAdapter(db, id, edit);
    return NextResponse.json({ id, ...edit });
  } catch (err) {
    return failed(err, "changing the adapter");
  }
}

/** The user adapters the caller may rename or remove. */
export async function GET(req: Request) {
  try {
    const who = await caller(req);
    return NextResponse.json({ adapters: await listManageable(await getServerDb(), who) });
  } catch (err) {
    return failed(err, "listing the adapters");
  }
}
