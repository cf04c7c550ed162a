/**
 * Who may change what everyone sees, against the production server (scripts/lib/web-server.mjs)
 * on a data directory prepared beforehand: bundled adapters cannot be removed from the web, an
 * uploaded one only by its owner or the admin; owners come only from page loads (signed), and an
 * old unsigned cookie that owns rows is re-signed; ingest needs the secret from DATA_DIR; with
 * ADMIN_TOKEN loopback is no admin; the server listens on loopback only and refuses to be exposed
 * without a token. Requests "via a proxy" carry X-Forwarded-For: that is how a visitor looks.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, pgliteDirFor } from "../../db/client";
import { prepareDb } from "../../db/migrate";
import { createChat, startTurn, updateGeneration } from "../../server/db-queries/chats";
import { addUserAdapter } from "../../server/db-queries/evals";
import { ownerCookie, ROOT, startWebServer, type WebServer } from "./browser";

const LEGACY = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const OTHER = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const VISITOR = { "x-forwarded-for": "203.0.113.9" };
const TOKEN = "e2e-admin-token-0123456789";
let leftStreaming = "";

async function prepareDataDir(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-access-"));
  const h = await openDb({ pgliteDir: pgliteDirFor(dir) });
  try {
    await prepareDb(h, ROOT);
    const chat = await createChat({ db: h.db, ownerId: LEGACY, kind: "run", title: "from before signing", settings: { adapters: [null], mode: "raw", params: { max_new_tokens: 1 } } });
    // a generation a killed web server left streaming
    const { generations } = await startTurn({ db: h.db, ownerId: LEGACY, chatId: chat.id, content: "hi", inputs: null, mode: "raw", panes: [{ adapterId: null, prompt: "hi" }], params: { max_new_tokens: 1 } });
    await updateGeneration({ db: h.db, id: generations[0]!.id, patch: { status: "streaming", output: "par" } });
    leftStreaming = chat.id;
    const adapter = (slug: string, ownerId: string) =>
      addUserAdapter(h.db, { slug, adapterId: slug, baseModelId: "loraland-mini", hfRepo: null, description: "test upload", task: null, ownerId });
    await adapter("legacy-upload", LEGACY);
    await adapter("other-upload", OTHER);
  } finally {
    await h.close();
  }
  return dir;
}

const del = (server: WebServer, id: string, headers: Record<string, string> = {}) => fetch(`${server.url}/api/adapters?id=${id}`, { method: "DELETE", headers });

describe("access to shared state (production server, no ADMIN_TOKEN)", () => {
  let server: WebServer;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await prepareDataDir();
    server = await startWebServer({ dataDir });
  });
  afterAll(async () => {
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("DELETE of a bundled adapter: 401 without an owner, 403 for an owner and even for the admin", async () => {
    const anon = await del(server, "spam", VISITOR);
    expect(anon.status).toBe(401);
    const visitor = await ownerCookie(server, VISITOR);
    expect((await del(server, "spam", { ...VISITOR, cookie: visitor })).status).toBe(403);
    const admin = await del(server, "spam"); // loopback, straight: the admin without a token
    expect(admin.status).toBe(403);
    expect(((await admin.json()) as { error: string }).error).toMatch(/bundled or published adapter/);
    expect((await del(server, "no-such-adapter", { ...VISITOR, cookie: visitor })).status).toBe(404);
  });

  it("owners come from page loads, signed; an API call with none or a made-up one is refused", async () => {
    const list = (headers: Record<string, string>) => fetch(`${server.url}/api/trpc/chats.list`, { headers: { ...VISITOR, ...headers } });
    expect((await list({})).status).toBe(401);
    expect((await list({ cookie: `owner=${OTHER}` })).status).toBe(401);
    const cookie = await ownerCookie(server, VISITOR);
    expect(cookie).toMatch(/^owner=[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
    expect((await list({ cookie })).status).toBe(200);
    // the API never mints one
    expect((await list({})).headers.get("set-cookie")).toBeNull();
  });

  it("an unsigned cookie that owns rows is re-signed on a page load and keeps its history; one that owns nothing is replaced", async () => {
    const resigned = await ownerCookie(server, { ...VISITOR, cookie: `owner=${LEGACY}` });
    expect(resigned.startsWith(`owner=${LEGACY}.`)).toBe(true);
    const res = await fetch(`${server.url}/api/trpc/chats.list`, { headers: { ...VISITOR, cookie: resigned } });
    const chats = ((await res.json()) as { result: { data: { json: { title: string }[] } } }).result.data.json;
    expect(chats.map((c) => c.title)).toEqual(["from before signing"]);
    const stranger = "12345678-1234-4234-8234-123456789abc";
    expect((await ownerCookie(server, { ...VISITOR, cookie: `owner=${stranger}` })).startsWith(`owner=${stranger}`)).toBe(false);
  });

  it("a generation left streaming by a killed server is interrupted at start, before any generate call", async () => {
    const cookie = await ownerCookie(server, { ...VISITOR, cookie: `owner=${LEGACY}` });
    const input = encodeURIComponent(JSON.stringify({ json: { id: leftStreaming } }));
    const res = await fetch(`${server.url}/api/trpc/chats.get?input=${input}`, { headers: { ...VISITOR, cookie } });
    const chat = ((await res.json()) as { result: { data: { json: { generations: { status: string; output: string }[] } } } }).result.data.json;
    expect(chat.generations.map((g) => [g.status, g.output])).toEqual([["interrupted", "par"]]);
  });

  it("an uploaded adapter is removed by its owner or the admin, by nobody else", async () => {
    const owner = await ownerCookie(server, { ...VISITOR, cookie: `owner=${LEGACY}` });
    const stranger = await ownerCookie(server, VISITOR);
    const refused = await del(server, "legacy-upload", { ...VISITOR, cookie: stranger });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/added by someone else/);
    expect((await del(server, "other-upload", { ...VISITOR, cookie: owner })).status).toBe(403);
    expect((await del(server, "legacy-upload", { ...VISITOR, cookie: owner })).status).toBe(200);
    expect((await del(server, "other-upload")).status).toBe(200); // the admin
    const catalog = await fetch(`${server.url}/api/trpc/catalog.list`);
    const slugs = ((await catalog.json()) as { result: { data: { json: { adapters: { slug: string; ownerId?: string }[] } } } }).result.data.json.adapters;
    expect(slugs.map((a) => a.slug)).not.toContain("legacy-upload");
    expect(slugs.map((a) => a.slug)).toContain("spam");
    expect(slugs.every((a) => a.ownerId === undefined)).toBe(true); // whose it is stays on the server
  });

  it("only an owner may register a Hub repo the catalog lists; other repos need the admin", async () => {
    const cookie = await ownerCookie(server, VISITOR);
    const post = (repo: string, headers: Record<string, string>) =>
      fetch(`${server.url}/api/adapters`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ repo, id: "hub-x" }) });
    expect((await post("someone/anything", { ...VISITOR, cookie })).status).toBe(403);
    // a listed repo passes the access check (the worker is offline here: 503)
    expect((await post("predibase/conllpp", { ...VISITOR, cookie })).status).toBe(503);
    expect((await post("someone/anything", {})).status).toBe(503);
  });

  it("ingest: 401 without the secret before the body is read; the probe shows no server path", async () => {
    const noSecret = await fetch(`${server.url}/api/eval/ingest`, { method: "POST", headers: { "content-type": "application/json" }, body: "not json" });
    expect(noSecret.status).toBe(401);
    const secret = fs.readFileSync(path.join(dataDir, "ingest-secret"), "utf8");
    const withSecret = await fetch(`${server.url}/api/eval/ingest`, { method: "POST", headers: { "content-type": "application/json", "x-ingest-secret": secret }, body: "{}" });
    expect(withSecret.status).toBe(400);
    const probe = await (await fetch(`${server.url}/api/eval/ingest`)).text();
    expect(probe).not.toContain(dataDir);
    expect(probe).not.toContain(secret);
    expect(Object.keys(JSON.parse(probe)).sort()).toEqual(["database", "ingest"]);
  });

  it("uploads up to the documented 64 MB reach validation; a larger one is refused naming the limit", async () => {
    const post = async (bytes: number) => {
      const form = new FormData();
      form.set("id", "big-upload");
      form.set("adapter_config.json", new Blob(["{}"]), "adapter_config.json");
      form.set("adapter_model.safetensors", new Blob([new Uint8Array(bytes)]), "adapter_model.safetensors");
      const res = await fetch(`${server.url}/api/adapters`, { method: "POST", body: form });
      return { status: res.status, body: (await res.json()) as { error: string; code: string } };
    };
    const twenty = await post(20 * 1024 * 1024);
    expect(twenty.body.error).not.toMatch(/multipart/);
    expect(twenty).toMatchObject({ status: 422, body: { code: "INVALID_ADAPTER" } }); // judged on its content
    // over the limit: the answer comes before the body is read (the headers say 70 MB; we send
    // only the start and read the answer, as fetch cannot, since the server stops reading)
    const over = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/api/adapters`, {
        method: "POST",
        headers: { "content-type": "multipart/form-data; boundary=x", "content-length": String(70 * 1024 * 1024) },
      });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on("error", reject);
      req.write("--x\r\n");
    });
    expect(over.status).toBe(413);
    expect(JSON.parse(over.body).error).toMatch(/the limit is 67108864 bytes/);
  });

  it("listens on loopback only (both families), not on the machine's other addresses", async () => {
    expect((await fetch(`http://[::1]:${server.port}/api/trpc/access.me`)).status).toBe(200);
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    if (external) await expect(fetch(`http://${external}:${server.port}/`)).rejects.toThrow();
  });
});

describe("with ADMIN_TOKEN", () => {
  let server: WebServer;
  beforeAll(async () => {
    server = await startWebServer({ env: { ADMIN_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("loopback grants nothing; the bearer token or the cookie the UI sets does", async () => {
    const me = async (headers: Record<string, string>) =>
      ((await (await fetch(`${server.url}/api/trpc/access.me`, { headers })).json()) as { result: { data: { json: { admin: boolean } } } }).result.data.json.admin;
    expect((await fetch(`${server.url}/api/trpc/access.me`)).status).toBe(401);
    expect((await del(server, "spam")).status).toBe(401);
    expect(await me({ authorization: `Bearer ${TOKEN}` })).toBe(true);
    const cookie = await ownerCookie(server);
    expect(await me({ cookie })).toBe(false);
    const wrong = await fetch(`${server.url}/api/admin/session`, { method: "POST", headers: { "content-type": "application/json", cookie }, body: JSON.stringify({ token: "not-the-token-at-all" }) });
    expect(wrong.status).toBe(403);
    const signIn = await fetch(`${server.url}/api/admin/session`, { method: "POST", headers: { "content-type": "application/json", cookie }, body: JSON.stringify({ token: TOKEN }) });
    expect(signIn.status).toBe(200);
    const admin = signIn.headers.getSetCookie().find((c) => c.startsWith("admin="))!;
    expect(admin).toMatch(/HttpOnly/i);
    expect(admin).not.toContain(TOKEN);
    expect(await me({ cookie: `${cookie}; ${admin.split(";")[0]}` })).toBe(true);
  });
});

describe("exposing the server", () => {
  const run = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const e: NodeJS.ProcessEnv = { ...process.env, ...env, NODE_ENV: "production" };
      delete e.ADMIN_TOKEN;
      const child = spawn(process.execPath, args, { cwd: ROOT, env: e, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr!.on("data", (d) => (err += d));
      child.on("exit", (code) => resolve({ code, err }));
    });

  it("a non-loopback HOST without ADMIN_TOKEN refuses to start, saying why (npm start and the server itself)", async () => {
    const web = await run([path.join(ROOT, "scripts/lib/web-server.mjs")], { HOST: "0.0.0.0", PORT: "1" });
    expect(web.code).toBe(2);
    expect(web.err).toMatch(/HOST=0\.0\.0\.0 .*ADMIN_TOKEN is not set/);
    const start = await run([path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/start.ts"], { HOST: "0.0.0.0", DATA_DIR: os.tmpdir() });
    expect(start.code).toBe(2);
    expect(start.err).toMatch(/HOST=0\.0\.0\.0 .*ADMIN_TOKEN is not set/);
  });
});
