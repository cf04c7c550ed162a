/**
 * Server paths stay on the server: the status page's data (the worker's /info, adapter errors,
 * error messages) shows `…/name` where the worker said an absolute path.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnv } from "../../server/env";
import { redactDeep, redactPaths } from "../../server/http/redact";
import { statusRouter } from "../../server/routers/status";
import { createCallerFactory } from "../../server/trpc";
import type { Db } from "../../db/client";

describe("redactPaths", () => {
  it("cuts absolute paths to their last part and leaves URLs and relative names alone", () => {
    expect(redactPaths("ENOENT: open '/srv/lora/.data/adapters/x/adapter_config.json'")).toBe("ENOENT: open '…/adapter_config.json'");
    expect(redactPaths("see http://127.0.0.1:8081/info, C:\\models\\base\\w.bin and tasks/sql/test.jsonl")).toBe("see http://127.0.0.1:8081/info, …/w.bin and tasks/sql/test.jsonl");
    expect(redactDeep({ a: ["/home/u/m/config.json", 3], b: { c: "/opt/x/y" } })).toEqual({ a: ["…/config.json", 3], b: { c: "…/y" } });
  });
});

describe("status.worker", () => {
  let server: http.Server;
  let url = "";
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const json = (body: unknown) => (res.writeHead(200, { "content-type": "application/json" }), res.end(JSON.stringify(body)));
      if (req.url === "/health") return json({});
      if (req.url === "/info") return json({ model_id: "m", model_path: "/srv/secret-place/models/base", version: "t" });
      if (req.url === "/adapters") return json({ adapters: [{ id: "bad", state: "failed", source: "local", error: "cannot read /srv/secret-place/.data/adapters/bad/adapter_model.safetensors" }] });
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("shows no server path", async () => {
    const caller = createCallerFactory(statusRouter)({ db: {} as Db, env: parseEnv({ INFERENCE_URL: url }), ownerId: null, headers: new Headers() });
    const s = await caller.worker({ fresh: true });
    expect(s.modelId).toBe("m");
    expect(JSON.stringify(s)).not.toContain("/srv/secret-place");
    expect(s.adapters?.[0]?.error).toBe("cannot read …/adapter_model.safetensors");
  });
});
