/* eslint-disable @typescript-eslint/no-explicit-any -- worker answers are untyped JSON, checked by schemas */
/**
 * Checks worker answers the way LoRAX and TGI users meet them: against both projects' OpenAPI
 * documents (../shared/specs, ajv + ajv-formats; OpenAPI 3.0's `nullable` and boolean
 * `exclusiveMinimum` rewritten into JSON Schema first) and, when python3 with pydantic is here,
 * with the response models of their Python clients (compat-client-models.py). Every check is
 * recorded; `summary()` counts them per target.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { ROOT } from "./worker-helpers";

export const SPECS = path.resolve(ROOT, "../shared/specs");
export type Target = "lorax-schema" | "tgi-schema" | "lorax-client" | "tgi-client";

/** what an answer is, and so which schema / client model applies in each target (null: none there) */
const KINDS: Record<string, Partial<Record<Target, string>>> = {
  generate: { "lorax-schema": "/generate|application/json", "tgi-schema": "/generate|application/json", "lorax-client": "Response", "tgi-client": "Response" },
  // LoRAX's document says `POST /` answers one object, but its server and client use an array
  // like TGI's (the client reads payload[0]): the element is checked against GenerateResponse
  compat: { "lorax-schema": "/generate|application/json", "tgi-schema": "/|application/json", "lorax-client": "Response", "tgi-client": "Response" },
  stream: { "lorax-schema": "/generate_stream|text/event-stream", "tgi-schema": "/generate_stream|text/event-stream", "lorax-client": "StreamResponse", "tgi-client": "StreamResponse" },
  info: { "lorax-schema": "/info|application/json", "tgi-schema": "/info|application/json" },
  tokenize: { "tgi-schema": "/tokenize|application/json" },
  error: { "lorax-schema": "/generate|application/json|422", "tgi-schema": "/generate|application/json|422" },
  completion: { "lorax-schema": "/v1/completions|application/json", "tgi-schema": "/v1/completions|application/json" },
  completion_chunk: { "lorax-schema": "/v1/completions|text/event-stream", "tgi-schema": "/v1/completions|text/event-stream" },
  chat: { "lorax-schema": "/v1/chat/completions|application/json", "tgi-schema": "/v1/chat/completions|application/json", "tgi-client": "ChatComplete" },
  chat_chunk: { "lorax-schema": "/v1/chat/completions|text/event-stream", "tgi-schema": "/v1/chat/completions|text/event-stream", "tgi-client": "ChatCompletionChunk" },
  models: { "tgi-schema": "/v1/models|application/json" },
};

/** OpenAPI 3.0 schema -> JSON Schema (draft-07 as ajv reads it) */
function toJsonSchema(node: any): any {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== "object") return node;
  const out: any = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "nullable" || k === "example" || k === "discriminator") continue;
    out[k] = toJsonSchema(v);
  }
  if (typeof node.exclusiveMinimum === "boolean") {
    delete out.exclusiveMinimum;
    if (node.exclusiveMinimum && node.minimum !== undefined) {
      delete out.minimum;
      out.exclusiveMinimum = node.minimum;
    }
  }
  if (node.nullable === true) return { anyOf: [out, { type: "null" }] };
  return out;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = new Ajv({ strict: false, allErrors: false });
addFormats(ajv);
ajv.addFormat("uint32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= 0 && n < 2 ** 32 });
const docs = { lorax: toJsonSchema(JSON.parse(fs.readFileSync(path.join(SPECS, "lorax-openapi.json"), "utf8"))), tgi: toJsonSchema(JSON.parse(fs.readFileSync(path.join(SPECS, "tgi-openapi.json"), "utf8"))) };
ajv.addSchema({ ...docs.lorax, $id: "lorax" });
ajv.addSchema({ ...docs.tgi, $id: "tgi" });
const compiled = new Map<string, ValidateFunction>();

function validator(doc: "lorax" | "tgi", where: string): ValidateFunction {
  const key = `${doc}:${where}`;
  let v = compiled.get(key);
  if (!v) {
    const [route, type, status = "200"] = where.split("|");
    const esc = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");
    v = ajv.compile({ $ref: `${doc}#/paths/${esc(route)}/${route === "/info" || route === "/v1/models" || route === "/health" ? "get" : "post"}/responses/${status}/content/${esc(type)}/schema` });
    compiled.set(key, v);
  }
  return v;
}

export interface CheckResult {
  label: string;
  target: Target;
  ok: boolean;
  error: string | null;
  /** a documented difference (README, API section) that this failure is */
  known?: string;
}

/**
 * Where the OpenAI protocol and TGI's document disagree, /v1 answers follow OpenAI (the
 * protocol's own clients read them); these failures are expected and counted apart.
 */
const KNOWN: { kind: string; target: Target; why: string; applies: (payload: any) => boolean }[] = [
  {
    kind: "completion_chunk", target: "tgi-schema",
    why: "OpenAI streams finish_reason null until the last chunk; TGI's document types it as a non-null string",
    applies: (p) => p?.choices?.some((c: any) => c.finish_reason === null) ?? false,
  },
];

export class CompatRecorder {
  readonly results: CheckResult[] = [];
  private readonly pending: { label: string; client: "lorax" | "tgi"; model: string; payload: unknown }[] = [];

  /** check one answer of `kind` against both schemas now, and queue it for the client models */
  check(label: string, kind: keyof typeof KINDS, payload: any, opts: { skipClients?: Target[] } = {}): void {
    const k = KINDS[kind];
    for (const doc of ["lorax", "tgi"] as const) {
      const where = k[`${doc}-schema`];
      if (!where) continue;
      const items = kind === "compat" && doc === "lorax" ? (Array.isArray(payload) && payload.length === 1 ? payload : [null]) : [payload];
      for (const item of items) {
        const v = validator(doc, where);
        const ok = v(item) as boolean;
        const known = ok ? null : KNOWN.find((d) => d.kind === kind && d.target === `${doc}-schema` && d.applies(item));
        this.results.push({ label, target: `${doc}-schema`, ok, error: ok ? null : ajv.errorsText(v.errors), known: known?.why });
      }
    }
    for (const client of ["lorax", "tgi"] as const) {
      const model = k[`${client}-client`];
      if (!model || opts.skipClients?.includes(`${client}-client`)) continue;
      // the clients read `payload[0]` of POST /'s answer
      const p = kind === "compat" ? (Array.isArray(payload) ? payload[0] : payload) : payload;
      this.pending.push({ label, client, model, payload: p && typeof p === "object" && !Array.isArray(p) ? p : { __not_an_object: p } });
    }
  }

  /** run the queued client-model checks in one python3 process; false when pydantic is not here */
  runClientModels(): boolean {
    const probe = spawnSync("python3", ["-c", "import pydantic"], { encoding: "utf8" });
    if (probe.status !== 0) return false;
    const input = this.pending.map((p) => JSON.stringify({ client: p.client, model: p.model, payload: p.payload })).join("\n");
    const r = spawnSync("python3", [path.join(import.meta.dirname, "compat-client-models.py"), SPECS], { input, encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
    if (r.status !== 0) throw new Error(`compat-client-models.py failed: ${r.stderr}`);
    const lines = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { ok: boolean; error: string | null });
    if (lines.length !== this.pending.length) throw new Error(`compat-client-models.py answered ${lines.length} of ${this.pending.length}`);
    this.pending.forEach((p, i) => this.results.push({ label: p.label, target: `${p.client}-client`, ok: lines[i].ok, error: lines[i].error }));
    this.pending.length = 0;
    return true;
  }

  /** request bodies built by the clients' own request models (null when pydantic is not here) */
  static clientRequests(items: unknown[]): any[] | null {
    if (spawnSync("python3", ["-c", "import pydantic"]).status !== 0) return null;
    const r = spawnSync("python3", [path.join(import.meta.dirname, "compat-client-models.py"), SPECS, "requests"], { input: JSON.stringify(items), encoding: "utf8" });
    if (r.status !== 0) throw new Error(`compat-client-models.py requests failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as any[];
  }

  summary(): Record<Target, { pass: number; known: number; total: number }> {
    const s = {} as Record<Target, { pass: number; known: number; total: number }>;
    for (const r of this.results) {
      s[r.target] ??= { pass: 0, known: 0, total: 0 };
      s[r.target].total++;
      if (r.ok) s[r.target].pass++;
      else if (r.known) s[r.target].known++;
    }
    return s;
  }
}
