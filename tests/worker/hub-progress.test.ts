/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are untyped JSON checked field by field */
/**
 * A worker started on a Hub base model listens first: while the weights download (the local Hub
 * look-alike holds the file half sent until the test has seen a progress answer) GET /health
 * answers 503 with stage "downloading" and a percentage, /info says the same; then the load is
 * reported (log lines with the percentage) and /health turns 200.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startHubServer, type HubServer } from "./hub-server";
import { FIXTURES, ROOT, freePort } from "./worker-helpers";

const BASE = path.join(FIXTURES, "tiny-llama/base");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hub-progress-"));
let hub: HubServer;

beforeAll(async () => {
  hub = await startHubServer({ "org/slow": { dir: BASE }, "org/gated": { dir: BASE, gated: true } }, "hf_test_token");
});
afterAll(async () => {
  await hub?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function getJson(url: string): Promise<{ status: number; body: any } | null> {
  try {
    const r = await fetch(url);
    return { status: r.status, body: await r.json() };
  } catch {
    return null; // not listening yet
  }
}

it("a worker downloading a Hub base model answers /health 503 with the download's percentage, then loads and turns ready", { timeout: 240_000 }, async () => {
  const size = fs.statSync(path.join(BASE, "model.safetensors")).size;
  let release!: () => void;
  hub.pause.set("org/slow/model.safetensors", { after: Math.floor(size / 2), release: new Promise<void>((r) => (release = r)) });
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "inference/cli/main.ts"), "serve", "--port", String(port), "--model", "org/slow", "--backend", "reference"], {
    cwd: ROOT, env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: "", DATA_DIR: path.join(tmp, "data") }, stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    // the download is held at half the file until released: poll until a progress answer comes
    let seen: { status: number; body: any } | null = null;
    const deadline = Date.now() + 180_000;
    while (!seen) {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}\n${log}`);
      if (Date.now() > deadline) throw new Error(`no progress answer from /health\n${log}`);
      const h = await getJson(`${url}/health`);
      if (h && typeof h.body.progress === "number") seen = h;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.status).toBe(503);
    expect(seen.body).toMatchObject({ status: "loading", stage: "downloading", model_id: "org/slow" });
    expect(seen.body.progress).toBeGreaterThan(0);
    expect(seen.body.progress).toBeLessThan(1); // the rest is held back
    expect(seen.body.message).toMatch(/^downloading org\/slow model\.safetensors: \d+%$/);
    const info = await getJson(`${url}/info`);
    expect(info!.body).toMatchObject({ state: "loading", ready: false, load_stage: "downloading" });
    expect(info!.body.load_progress).toBeGreaterThan(0);

    release();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}\n${log}`);
      if (Date.now() > deadline + 60_000) throw new Error(`worker not ready\n${log}`);
      const h = await getJson(`${url}/health`);
      if (h?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // the load itself reported its progress up to 100%
    const percents = log.split("\n").filter((l) => l.includes('"model_load_progress"')).map((l) => JSON.parse(l).percent as number);
    expect(percents.length).toBeGreaterThan(0);
    expect(percents.at(-1)).toBe(100);
    const ready = await getJson(`${url}/info`);
    expect(ready!.body).toMatchObject({ state: "ready", load_stage: null, load_progress: null });
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
  }
});

it("a worker stopped while the download is held exits at once (the partial file stays for a resume)", { timeout: 240_000 }, async () => {
  const dataDir = path.join(tmp, "data2");
  hub.pause.set("org/slow/model.safetensors", { after: 200_000, release: new Promise<void>(() => {}) });
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "inference/cli/main.ts"), "serve", "--port", String(port), "--model", "org/slow", "--backend", "reference"], {
    cwd: ROOT, env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: "", DATA_DIR: dataDir }, stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}\n${log}`);
    if (Date.now() > deadline) throw new Error(`no progress answer\n${log}`);
    const h = await getJson(`http://127.0.0.1:${port}/health`);
    if (h && typeof h.body.progress === "number") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  const partial = path.join(dataDir, "models/org--slow", `.partial-${hub.shaOf("org/slow")}`, "model.safetensors.incomplete");
  const kept = fs.statSync(partial).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThanOrEqual(200_000);
});

it("a gated Hub base model without a token: the listening worker says what to do and exits 2", { timeout: 240_000 }, async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "inference/cli/main.ts"), "serve", "--port", String(port), "--model", "org/gated", "--backend", "reference"], {
    cwd: ROOT, env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: "", DATA_DIR: path.join(tmp, "data3") }, stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  expect(code).toBe(2);
  expect(log).toContain("HTTP 401");
  expect(log).toContain(`Accept the license on ${hub.url}/org/gated`);
  expect(log).toContain('"event":"model_download_failed"');
});
