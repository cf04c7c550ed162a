/**
 * The catalog against the REAL built-in worker serving the bundled mini LoRA Land: the nine demo
 * adapters are runnable, the 27 LoRA Land adapters are listed as needing Mistral-7B, and the
 * status router reports the worker's model and adapters.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedCatalog } from "../../db/seed";
import { parseEnv } from "../../server/env";
import { createCaller } from "../../server/root";
import { createTRPCContext } from "../../server/trpc";
import { freePort } from "../e2e/browser";
import { openMigratedPglite, type TestDatabase } from "./db-harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const hasWorker = fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));
if (!hasWorker) process.stderr.write("\n!!!!! SKIPPING catalog-worker tests: inference/cli/serve.ts does not exist yet !!!!!\n\n");

describe.runIf(hasWorker)("catalog with the built-in worker", () => {
  let worker: ChildProcess;
  let url: string;
  let h: TestDatabase;
  let out = "";

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    worker = spawn(
      process.execPath,
      [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "inference/cli/main.ts", "serve", "--port", String(port), "--model", "data/demo/base", "--adapters", "data/demo/adapters", "--model-id", "loraland-mini"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    worker.stdout!.on("data", (d) => (out += d));
    worker.stderr!.on("data", (d) => (out += d));
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (worker.exitCode !== null) throw new Error(`worker exited ${worker.exitCode}:\n${out}`);
      const ok = await fetch(`${url}/health`).then((r) => r.ok).catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`worker not healthy in time:\n${out}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    h = await openMigratedPglite();
    await seedCatalog(h.db, { root: ROOT });
  });
  afterAll(async () => {
    worker?.kill("SIGTERM");
    await h?.close();
  });

  it.each(["lorax", "openai"] as const)("decides runnable state from the worker (%s protocol)", async (protocol) => {
    const c = createCaller(await createTRPCContext({ headers: new Headers(), db: h.db, env: parseEnv({ INFERENCE_URL: url, INFERENCE_PROTOCOL: protocol }) }));
    const { worker: w, adapters } = await c.catalog.list();
    expect(w, JSON.stringify(w)).toMatchObject({ online: true, ready: true, modelId: "loraland-mini" });
    const demo = adapters.filter((a) => a.collection === "runs-here");
    expect(demo).toHaveLength(9);
    for (const a of demo) expect(a.run, a.slug).toMatchObject({ runnable: true, state: "runnable" });
    for (const a of adapters.filter((x) => x.collection === "lora-land")) {
      expect(a.run).toMatchObject({ runnable: false, state: "other-base" });
    }
    const status = await c.status.worker({ fresh: true });
    expect(status.modelId).toBe("loraland-mini");
    expect(status.adapters!.map((a) => a.id).sort()).toEqual(demo.map((a) => a.slug).sort());
  });
});
