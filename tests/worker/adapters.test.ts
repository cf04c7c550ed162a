/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are untyped JSON checked field by field */
/**
 * Adapters at run time against the real worker: GET/POST/DELETE /adapters, local folders only
 * under the adapter roots (no traversal, no symlink escape), uploads under ${DATA_DIR}/adapters,
 * a broken adapter refused with 422 while another stream goes on, and Hub downloads from a local
 * HTTP server with the Hub's `/{repo}/resolve/{revision}/{file}` layout and a token check.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, postJson, sse, startWorker, type Worker } from "./worker-helpers";

const fx = path.join(FIXTURES, "tiny-llama");
const expected = JSON.parse(fs.readFileSync(path.join(fx, "expected.json"), "utf8"));
const prompt: string = expected.prompts[0].text;
const greedy = (adapter: string): number[] => expected.runs[adapter][0].greedy;
const TOKEN = "hf_test_secret";

let tmp: string;
let w: Worker;
let hub: http.Server;
let hubUrl: string;
const hubHits: string[] = [];

const gen = (adapter: string, extra: Record<string, unknown> = {}) =>
  postJson(`${w.url}/generate`, { inputs: prompt, parameters: { adapter_id: adapter, max_new_tokens: 12, ignore_eos_token: true, details: true, ...extra } });
const ids = (r: { body: any }) => r.body.details.tokens.map((t: { id: number }) => t.id);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "worker-adapters-"));
  const adapters = path.join(tmp, "adapters");
  fs.mkdirSync(adapters);
  fs.cpSync(path.join(fx, "adapters/qv-r8"), path.join(adapters, "qv-r8"), { recursive: true });
  // broken: the weights are cut short
  fs.cpSync(path.join(fx, "adapters/all-r16"), path.join(adapters, "broken"), { recursive: true });
  const st = path.join(adapters, "broken/adapter_model.safetensors");
  fs.writeFileSync(st, fs.readFileSync(st).subarray(0, 4000));
  // an adapter of another model (shapes do not fit this base)
  fs.cpSync(path.join(FIXTURES, "tiny-mistral/adapters/qv-r8"), path.join(adapters, "wrong-shape"), { recursive: true });
  // a symlink inside the root pointing outside of it
  fs.symlinkSync(path.join(fx, "adapters/all-r16"), path.join(adapters, "escape"));
  fs.mkdirSync(path.join(tmp, "data/adapters"), { recursive: true });

  // a Hub look-alike: /{org}/{name}/resolve/{revision}/{file} from the fixture adapters, Bearer token required
  hub = http.createServer((req, res) => {
    hubHits.push(`${req.method} ${req.url}`);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401).end("unauthorized");
      return;
    }
    const m = /^\/org\/([\w-]+)\/resolve\/([\w.-]+)\/(adapter_config\.json|adapter_model\.safetensors)$/.exec(req.url ?? "");
    const dir = m && { qv: "qv-r8", all: "all-r16", broken: "all-r16" }[m[1]];
    if (!m || !dir || m[2] !== "main") {
      res.writeHead(404).end("not found");
      return;
    }
    let bytes = fs.readFileSync(path.join(fx, "adapters", dir, m[3]));
    if (m[1] === "broken" && m[3].endsWith(".safetensors")) bytes = bytes.subarray(0, 5000);
    res.writeHead(200, { "content-length": bytes.length }).end(bytes);
  });
  await new Promise<void>((r) => hub.listen(0, "127.0.0.1", () => r()));
  hubUrl = `http://127.0.0.1:${(hub.address() as { port: number }).port}`;

  w = await startWorker(["--model", path.join(fx, "base"), "--adapters", adapters, "--model-id", "tiny-llama", "--hub-cache", path.join(tmp, "hub-cache")], {
    env: { HF_ENDPOINT: hubUrl, HF_TOKEN: "", DATA_DIR: path.join(tmp, "data") },
  });
});

afterAll(async () => {
  await w?.stop();
  await new Promise((r) => hub?.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("GET /adapters", () => {
  it("lists the folders found at start with id, source, rank, target modules, bytes, state", async () => {
    const body = await (await fetch(`${w.url}/adapters`)).json();
    expect(body.model_id).toBe("tiny-llama");
    const qv = body.adapters.find((a: { id: string }) => a.id === "qv-r8");
    expect(qv).toMatchObject({ id: "qv-r8", source: "local", rank: 8, target_modules: ["q_proj", "v_proj"], state: "disk", error: null });
    expect(qv.bytes).toBeGreaterThan(0);
    expect(body.adapters.map((a: { id: string }) => a.id)).toContain("broken");
    await gen("qv-r8");
    const after = await (await fetch(`${w.url}/adapters/qv-r8`)).json();
    expect(after.state).toBe("resident");
  });
});

describe("local adapters", () => {
  it("registers a folder under a root by relative path, serves it, deletes it", async () => {
    const r = await postJson(`${w.url}/adapters`, { id: "copy-of-qv", source: "local", path: "qv-r8" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ id: "copy-of-qv", source: "local", rank: 8 });
    expect(ids(await gen("copy-of-qv"))).toEqual(greedy("qv-r8"));
    const del = await fetch(`${w.url}/adapters/copy-of-qv`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect((await gen("copy-of-qv")).status).toBe(404);
    expect((await fetch(`${w.url}/adapters/copy-of-qv`, { method: "DELETE" })).status).toBe(404);
  });

  it("registers an upload written under ${DATA_DIR}/adapters/<id>", async () => {
    fs.cpSync(path.join(fx, "adapters/mlp-r4-rs"), path.join(tmp, "data/adapters/uploaded-mlp"), { recursive: true });
    const r = await postJson(`${w.url}/adapters`, { id: "uploaded-mlp", source: "local", path: path.join(tmp, "data/adapters/uploaded-mlp") });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(ids(await gen("uploaded-mlp"))).toEqual(greedy("mlp-r4-rs"));
  });

  it("refuses paths outside the roots: ../, absolute paths, symlinks that escape", async () => {
    for (const p of ["../../tiny-llama/adapters/qv-r8", path.join(fx, "adapters/qv-r8"), "escape", "/etc"]) {
      const r = await postJson(`${w.url}/adapters`, { id: "sneaky", source: "local", path: p });
      expect(r.status, `${p}: ${JSON.stringify(r.body)}`).toBe(422);
      expect(r.body.field).toBe("path");
      expect(r.body.error).toMatch(/outside the adapter roots/);
    }
    const viaId = await gen("escape", { adapter_source: "local" });
    expect(viaId.status).toBe(422);
    expect((await postJson(`${w.url}/adapters`, { id: "../x", source: "local" })).body.field).toBe("id");
  });

  it("a broken adapter answers 422 naming it, while a stream on another adapter goes on unharmed", async () => {
    const long = sse(`${w.url}/generate_stream`, { inputs: prompt, parameters: { adapter_id: "qv-r8", max_new_tokens: 120, ignore_eos_token: true } });
    for (const bad of ["broken", "wrong-shape"]) {
      const r = await gen(bad);
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toContain(`adapter "${bad}"`);
      expect(r.body.field).toBe("parameters.adapter_id");
      const reg = await postJson(`${w.url}/adapters`, { id: `${bad}-again`, source: "local", path: bad });
      expect(reg.status).toBe(422);
    }
    const s = await long;
    expect(s.events).toHaveLength(120);
    expect(s.events.slice(0, 12).map((e) => e.token.id)).toEqual(greedy("qv-r8"));
    const listed = await (await fetch(`${w.url}/adapters/broken`)).json();
    expect(listed.state).toBe("failed");
    expect(listed.error).toBeTruthy();
  });
});

describe("Hub adapters", () => {
  it("needs a token: 401 naming api_token without one", async () => {
    const r = await postJson(`${w.url}/adapters`, { id: "org/qv", source: "hub", repo: "org/qv" });
    expect(r.status).toBe(401);
    expect(r.body.field).toBe("api_token");
  });

  it("downloads into the cache atomically and serves it; the cached copy is reused", async () => {
    const r = await postJson(`${w.url}/adapters`, { id: "org/qv", source: "hub", repo: "org/qv", api_token: TOKEN });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ id: "org/qv", source: "hub", rank: 8 });
    const cached = path.join(tmp, "hub-cache/org--qv/main");
    expect(fs.readdirSync(cached).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    expect(fs.readdirSync(path.join(tmp, "hub-cache/org--qv")).filter((n) => n.startsWith(".tmp"))).toEqual([]);
    expect(ids(await gen("org/qv"))).toEqual(greedy("qv-r8"));
    const hits = hubHits.length;
    expect((await fetch(`${w.url}/adapters/org/qv`, { method: "DELETE" })).status).toBe(200);
    expect((await postJson(`${w.url}/adapters`, { id: "org/qv", source: "hub", api_token: TOKEN })).status).toBe(201);
    expect(hubHits.length).toBe(hits); // from the cache
  });

  it("adapter_source hub in a generate request downloads on the fly", async () => {
    const r = await gen("org/all", { adapter_source: "hub", api_token: TOKEN });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(ids(r)).toEqual(greedy("all-r16"));
    expect(hubHits).toContain("GET /org/all/resolve/main/adapter_model.safetensors");
  });

  it("a truncated download is refused (422) and leaves nothing in the cache; unknown repos are 404", async () => {
    const r = await gen("org/broken", { adapter_source: "hub", api_token: TOKEN });
    expect(r.status).toBe(422);
    expect(fs.existsSync(path.join(tmp, "hub-cache/org--broken/main"))).toBe(false);
    const missing = await gen("org/nothing", { adapter_source: "hub", api_token: TOKEN });
    expect(missing.status).toBe(404);
  });
});
