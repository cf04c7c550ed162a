/**
 * Base models by Hub repo id (`--model owner/name`), against a local Hub look-alike
 * (./hub-server.ts): downloaded into DATA_DIR/models/<owner>--<name>/<sha>/ and then run by
 * `cli logits` and served by the worker; a cut download resumed with Range; a corrupted file
 * refused by its sha256; a gated repo without a token refused with what to do; a second start
 * uses the cache without asking the Hub.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHubServer, type HubServer } from "./hub-server";
import { FIXTURES, ROOT, startWorker } from "./worker-helpers";

const run = promisify(execFile);
const BASE = path.join(FIXTURES, "tiny-llama/base");
const TOKEN = "hf_test_token";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hub-model-"));
let hub: HubServer;
const reqFile = path.join(tmp, "req.json");

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "inference/cli/main.ts", ...args], {
      cwd: ROOT, maxBuffer: 64 << 20, env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: "", DATA_DIR: path.join(tmp, "data"), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, "tiny-llama/expected.json"), "utf8"));
  fs.writeFileSync(reqFile, JSON.stringify([{ ids: expected.prompts[0].ids, adapter: null }]));
  // the same weights as one shard behind an index, the way 7B checkpoints come
  const header = fs.readFileSync(path.join(BASE, "model.safetensors"));
  const names = Object.keys(JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString())).filter((n) => n !== "__metadata__");
  const index = { metadata: { total_size: header.length }, weight_map: Object.fromEntries(names.map((n) => [n, "model-00001-of-00001.safetensors"])) };
  hub = await startHubServer({
    "org/tiny": { dir: BASE },
    "org/sharded": { dir: BASE, omit: ["model.safetensors"], alias: { "model-00001-of-00001.safetensors": "model.safetensors" }, extra: { "model.safetensors.index.json": Buffer.from(JSON.stringify(index)) } },
    "org/corrupt": { dir: BASE },
    "org/gated": { dir: BASE, gated: true },
    "org/locked": { dir: BASE },
  }, TOKEN);
});
afterAll(async () => {
  await hub?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("base model by Hub repo id", () => {
  let local: string;

  it("a cut download is resumed with Range, placed under DATA_DIR/models/<owner>--<name>/<sha>, and gives the local folder's logits", async () => {
    local = (await cli(["logits", "--model", BASE, "--requests", reqFile, "--backend", "reference", "--dtype", "f32"])).stdout;
    expect(JSON.parse(local)[0].last_logits.length).toBeGreaterThan(0);

    hub.cutOnce.set("org/tiny/model.safetensors", 300_000);
    const cut = await cli(["logits", "--model", "org/tiny", "--requests", reqFile, "--backend", "reference", "--dtype", "f32"]);
    expect(cut.code).toBe(2);
    expect(cut.stderr).toMatch(/model\.safetensors of "org\/tiny" failed after/);
    const sha = hub.shaOf("org/tiny");
    const partial = path.join(tmp, "data/models/org--tiny", `.partial-${sha}`, "model.safetensors.incomplete");
    const kept = fs.statSync(partial).size; // kept for the next run (what arrived before the cut)
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(300_000);

    const r = await cli(["logits", "--model", "org/tiny", "--requests", reqFile, "--backend", "reference", "--dtype", "f32"]);
    expect(r.stderr).toContain(`resuming at ${kept} bytes`);
    expect(r.code).toBe(0);
    expect(hub.hits).toContain(`GET /cdn/org/tiny/model.safetensors bytes=${kept}-`);
    expect(r.stdout).toBe(local);
    const dir = path.join(tmp, "data/models/org--tiny", sha);
    expect(fs.readFileSync(path.join(dir, "model.safetensors")).equals(fs.readFileSync(path.join(BASE, "model.safetensors")))).toBe(true);
    expect(fs.existsSync(path.join(dir, "tokenizer.json"))).toBe(true);
    expect(fs.existsSync(path.dirname(partial))).toBe(false);
    expect(fs.readFileSync(path.join(tmp, "data/models/org--tiny/refs/main"), "utf8")).toBe(sha);
  });

  it("nothing is downloaded twice: the next run and a served worker use the cache without asking the Hub", async () => {
    const before = hub.hits.length;
    const r = await cli(["logits", "--model", "org/tiny", "--requests", reqFile, "--backend", "reference", "--dtype", "f32"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(local);
    const w = await startWorker(["--model", "org/tiny", "--backend", "reference"], {
      env: { HF_ENDPOINT: hub.url, HF_TOKEN: "", DATA_DIR: path.join(tmp, "data") },
    });
    try {
      const models = await (await fetch(`${w.url}/v1/models`)).json();
      expect(models.data.map((m: { id: string }) => m.id)).toContain("org/tiny"); // the repo id is the name served
      expect(w.logs()).toContain(`Hub org/tiny@${hub.shaOf("org/tiny")}`);
    } finally {
      await w.stop();
    }
    expect(hub.hits.length).toBe(before);
  });

  it("a sharded checkpoint (index + shards) is downloaded and runs", async () => {
    const r = await cli(["logits", "--model", "org/sharded", "--requests", reqFile, "--backend", "reference", "--dtype", "f32"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(local);
    expect(hub.hits).toContain("GET /org/sharded/resolve/" + hub.shaOf("org/sharded") + "/model-00001-of-00001.safetensors");
  });

  it("a file that does not match the Hub's sha256 is refused and deleted", async () => {
    hub.corrupt.add("org/corrupt/model.safetensors");
    const r = await cli(["logits", "--model", "org/corrupt", "--requests", reqFile, "--backend", "reference"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.safetensors of "org\/corrupt" does not match the Hub's sha256/);
    const sha = hub.shaOf("org/corrupt");
    expect(fs.existsSync(path.join(tmp, "data/models/org--corrupt", sha))).toBe(false);
    expect(fs.existsSync(path.join(tmp, "data/models/org--corrupt", `.partial-${sha}`, "model.safetensors.incomplete"))).toBe(false);
  });

  it("a gated repo without a token says to accept the license and set HF_TOKEN; with it, it downloads", async () => {
    const r = await cli(["logits", "--model", "org/gated", "--requests", reqFile, "--backend", "reference"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("HTTP 401");
    expect(r.stderr).toContain(`Accept the license on ${hub.url}/org/gated`);
    expect(r.stderr).toContain("HF_TOKEN");
    const ok = await cli(["logits", "--model", "org/gated", "--requests", reqFile, "--backend", "reference", "--dtype", "f32"], { HF_TOKEN: TOKEN });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(local);
  });

  it("one download per model at a time: a live process's lock is refused, a dead one's is taken over", async () => {
    const root = path.join(tmp, "data/models/org--locked");
    const lockFile = path.join(root, `.partial-${hub.shaOf("org/locked")}.lock`);
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(lockFile, String(process.pid)); // this test process: alive
    const r = await cli(["logits", "--model", "org/locked", "--requests", reqFile, "--backend", "reference"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`"org/locked" is being downloaded by process ${process.pid}`);
    fs.writeFileSync(lockFile, "999999999"); // no such process
    const ok = await cli(["logits", "--model", "org/locked", "--requests", reqFile, "--backend", "reference", "--dtype", "f32"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(local);
    expect(fs.existsSync(lockFile)).toBe(false);
  });
});
