/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are untyped JSON checked field by field */
/**
 * Adapters at run time against the real worker: GET/POST/DELETE /adapters, local folders only
 * under the adapter roots (no traversal, no symlink escape), uploads under ${DATA_DIR}/adapters,
 * a broken adapter refused with 422 while another stream goes on, weights holding NaN/Inf or an
 * absurd lora_alpha refused at load, and Hub downloads from a local HTTP server with the Hub's
 * `/{repo}/resolve/{revision}/{file}` layout and a token check: streamed to a temp file, one at a
 * time here (`--hub-downloads 1`, more get 429), repos over `--hub-max-mb 1` refused.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, metric, postJson, sse, startWorker, type Worker } from "./worker-helpers";

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
/** the "slow" repo sends half its weights, then waits for this */
let releaseSlow: () => void = () => {};
const slowReleased = new Promise<void>((r) => (releaseSlow = r));

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
    const dir = m && { qv: "qv-r8", all: "all-r16", broken: "all-r16", slow: "qv-r8", big: "qv-r8", bigchunked: "qv-r8", other: "attn-r2" }[m[1]];
    if (!m || !dir || m[2] !== "main") {
      res.writeHead(404).end("not found");
      return;
    }
    let bytes = fs.readFileSync(path.join(fx, "adapters", dir, m[3]));
    const weights = m[3].endsWith(".safetensors");
    if (m[1] === "broken" && weights) bytes = bytes.subarray(0, 5000);
    if (m[1] === "slow" && weights) {
      res.writeHead(200, { "content-length": bytes.length });
      res.write(bytes.subarray(0, bytes.length / 2));
      void slowReleased.then(() => res.end(bytes.subarray(bytes.length / 2)));
      return;
    }
    if (m[1] === "big" && weights) {
      // declared over the 1 MiB limit: refused from its content-length
      res.writeHead(200, { "content-length": 2 ** 20 + 1 }).end(Buffer.alloc(2 ** 20 + 1));
      return;
    }
    if (m[1] === "bigchunked" && weights) {
      // no content-length: refused while it arrives; the server would send 8 MiB
      res.writeHead(200);
      let sent = 0;
      const more = () => {
        while (sent < 8 * 2 ** 20 && !res.destroyed) {
          sent += 65536;
          if (!res.write(Buffer.alloc(65536))) return void res.once("drain", more);
        }
        res.end();
      };
      res.on("error", () => {});
      more();
      return;
    }
    res.writeHead(200, { "content-length": bytes.length }).end(bytes);
  });
  await new Promise<void>((r) => hub.listen(0, "127.0.0.1", () => r()));
  hubUrl = `http://127.0.0.1:${(hub.address() as { port: number }).port}`;

  w = await startWorker(["--model", path.join(fx, "base"), "--adapters", adapters, "--model-id", "tiny-llama", "--hub-cache", path.join(tmp, "hub-cache"), "--hub-max-mb", "1", "--hub-downloads", "1"], {
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

describe("adapters whose numbers cannot be served", () => {
  /** a copy of qv-r8 under ${DATA_DIR}/adapters with `edit` applied */
  function variant(name: string, edit: (dir: string) => void): string {
    const dir = path.join(tmp, "data/adapters", name);
    fs.cpSync(path.join(fx, "adapters/qv-r8"), dir, { recursive: true });
    edit(dir);
    return dir;
  }
  /** writes one float32 into the first tensor's data (the header is 1024 bytes) */
  const poke = (value: number) => (dir: string) => {
    const file = path.join(dir, "adapter_model.safetensors");
    const b = fs.readFileSync(file);
    b.writeFloatLE(value, 8 + 1024 + 4 * 5);
    fs.writeFileSync(file, b);
  };
  const config = (patch: Record<string, unknown>) => (dir: string) => {
    const file = path.join(dir, "adapter_config.json");
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ...patch }));
  };

  it("weights holding NaN or Inf are refused at load with 422 naming the tensor", async () => {
    for (const [name, value, shown] of [["nan-weights", NaN, "NaN"], ["inf-weights", Infinity, "+Inf"], ["neginf-weights", -Infinity, "-Inf"]] as const) {
      const dir = variant(name, poke(value));
      const r = await postJson(`${w.url}/adapters`, { id: name, source: "local", path: dir });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toContain(`adapter "${name}"`);
      expect(r.body.error).toContain(`holds ${shown} at element 5`);
      expect(r.body.error).toContain("layers.0.self_attn.q_proj.lora_A");
    }
    // registered without validation (as the start-up scan does), the first generation refuses it
    const g = await gen("nan-weights", { adapter_source: "local" });
    expect(g.status).toBe(422);
    expect(g.body.error).toContain("holds NaN");
  });

  it("an absurd lora_alpha (or alpha_pattern) is refused with 422 naming the field", async () => {
    for (const [name, patch, field] of [
      ["huge-alpha", { lora_alpha: 1e9 }, "lora_alpha"],
      ["inf-alpha-pattern", { alpha_pattern: { q_proj: 1e300 * 1e10 } }, "alpha_pattern"], // JSON has no Infinity: 1e310 parses to it
      ["big-alpha-pattern", { alpha_pattern: { q_proj: 1e6 } }, "alpha_pattern"],
    ] as const) {
      const dir = variant(name, config(patch));
      if (name === "inf-alpha-pattern") fs.writeFileSync(path.join(dir, "adapter_config.json"), fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8").replace('"alpha_pattern":{"q_proj":null}', '"alpha_pattern":{"q_proj":1e310}'));
      const r = await postJson(`${w.url}/adapters`, { id: name, source: "local", path: dir });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toContain(`adapter "${name}"`);
      expect(r.body.error).toContain(field);
    }
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

  it("streams to a temp file, not memory; one download at a time here, the next gets 429 with Retry-After", async () => {
    const pending = postJson(`${w.url}/adapters`, { id: "org/slow", source: "hub", repo: "org/slow", api_token: TOKEN });
    const weights = fs.statSync(path.join(fx, "adapters/qv-r8/adapter_model.safetensors")).size;
    // the first half is on disk before the rest was even sent
    const parent = path.join(tmp, "hub-cache/org--slow");
    for (let i = 0; ; i++) {
      const tmpDir = fs.existsSync(parent) ? fs.readdirSync(parent).find((n) => n.startsWith(".tmp")) : undefined;
      const file = tmpDir && path.join(parent, tmpDir, "adapter_model.safetensors");
      if (file && fs.existsSync(file) && fs.statSync(file).size >= weights / 2) break;
      if (i > 600) throw new Error("the partial download never reached the disk");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await metric(w.url, "worker_hub_downloads_in_flight")).toBe(1);
    const busy = await postJson(`${w.url}/adapters`, { id: "org/other", source: "hub", repo: "org/other", api_token: TOKEN });
    expect([busy.status, busy.body.error_type]).toEqual([429, "overloaded"]);
    expect(busy.body.error).toMatch(/1 Hub downloads are running \(limit 1\)/);
    expect(Number(busy.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // a cached repo needs no download place
    expect((await postJson(`${w.url}/adapters`, { id: "org/qv", source: "hub", api_token: TOKEN })).status).toBe(201);
    releaseSlow();
    const r = await pending;
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(ids(await gen("org/slow"))).toEqual(greedy("qv-r8"));
    expect(await metric(w.url, "worker_hub_downloads_in_flight")).toBe(0);
    expect((await postJson(`${w.url}/adapters`, { id: "org/other", source: "hub", repo: "org/other", api_token: TOKEN })).status).toBe(201);
  });

  it("a repo over --hub-max-mb is refused with 422 adapter_too_large naming the limit, declared or not, and nothing is kept", async () => {
    for (const repo of ["org/big", "org/bigchunked"]) {
      const r = await postJson(`${w.url}/adapters`, { id: repo, source: "hub", repo, api_token: TOKEN });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body).toMatchObject({ code: "adapter_too_large", field: "adapter_id" });
      expect(r.body.error).toContain(`limit of ${2 ** 20} bytes (1 MiB, --hub-max-mb)`);
      const parent = path.join(tmp, `hub-cache/${repo.replace("/", "--")}`);
      expect(fs.existsSync(parent) ? fs.readdirSync(parent) : []).toEqual([]);
    }
    expect(await metric(w.url, "worker_hub_downloads_in_flight")).toBe(0);
  });

  it("a truncated download is refused (422) and leaves nothing in the cache; unknown repos are 404", async () => {
    const r = await gen("org/broken", { adapter_source: "hub", api_token: TOKEN });
    expect(r.status).toBe(422);
    expect(fs.existsSync(path.join(tmp, "hub-cache/org--broken/main"))).toBe(false);
    const missing = await gen("org/nothing", { adapter_source: "hub", api_token: TOKEN });
    expect(missing.status).toBe(404);
  });
});
