/**
 * Training through the production server (`npm start` with the built-in worker, PGlite under a
 * fresh DATA_DIR): a dataset uploaded to POST /api/train/datasets (owner cookie; none → 401,
 * cross-site → 403, a bad file → 400 naming the part), a run started with train.start over HTTP,
 * its progress read from the train.progress SSE subscription until done (trained by the server's
 * child process, off its event loop), and the adapter in the catalog as trained here and served by
 * the worker.
 */
import { gunzipSync } from "node:zlib";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownerCookie, ROOT, startWebServer, type WebServer } from "../e2e/browser";

const hasWorker = fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));

describe.runIf(hasWorker)("training over HTTP on the production server", () => {
  let web: WebServer;
  let cookie: string;
  const same = () => ({ cookie, origin: web.url, "content-type": "application/json" });
  const trpc = async (proc: string, input: unknown, method: "GET" | "POST" = "POST") => {
    const body = JSON.stringify({ json: input });
    const res = method === "POST" ? await fetch(`${web.url}/api/trpc/${proc}`, { method, headers: same(), body }) : await fetch(`${web.url}/api/trpc/${proc}?input=${encodeURIComponent(body)}`, { headers: same() });
    const out = (await res.json()) as { result?: { data: { json: unknown } }; error?: { json: { message: string } } };
    if (!res.ok) throw new Error(`${proc}: HTTP ${res.status}: ${out.error?.json.message}`);
    return out.result!.data.json as Record<string, unknown>;
  };

  beforeAll(async () => {
    // an admin token: a loopback caller without a cookie is then nobody (not the local admin)
    web = await startWebServer({ worker: "builtin", env: { ADMIN_TOKEN: "train-http-test-admin-token" }, timeoutMs: 600_000 });
    cookie = await ownerCookie(web);
  }, 900_000);
  afterAll(async () => {
    await web?.stop();
  });

  it("uploads a dataset, trains on it, streams progress, lists the adapter as trained here", async () => {
    const rows = gunzipSync(fs.readFileSync(path.join(ROOT, "data/demo/tasks/sentiment/train.jsonl.gz"))).toString().split("\n").slice(0, 64).join("\n");
    const form = () => {
      const f = new FormData();
      f.set("file", new Blob([rows]), "reviews.jsonl");
      return f;
    };
    expect((await fetch(`${web.url}/api/train/datasets`, { method: "POST", body: form() })).status).toBe(401);
    expect((await fetch(`${web.url}/api/train/datasets`, { method: "POST", body: form(), headers: { cookie, origin: "https://evil.example" } })).status).toBe(403);
    const bad = new FormData();
    bad.set("file", new Blob(["x"]), "notes.txt");
    const refused = await fetch(`${web.url}/api/train/datasets`, { method: "POST", body: bad, headers: { cookie, origin: web.url } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toMatch(/^file: "notes\.txt" is not a \.csv or \.jsonl file/);
    const up = await fetch(`${web.url}/api/train/datasets`, { method: "POST", body: form(), headers: { cookie, origin: web.url } });
    expect(up.status, await up.clone().text()).toBe(201);
    const dataset = (await up.json()) as { id: string; rows: number; columns: string[] };
    expect(dataset).toMatchObject({ rows: 64, columns: ["review", "output"] });

    // the built-in worker may still be loading: start answers 412 until it serves
    let run: Record<string, unknown> | null = null;
    for (let i = 0; i < 240 && !run; i++) {
      try {
        run = await trpc("train.start", {
          dataset: { kind: "upload", id: dataset.id },
          name: "reviews-http",
          config: { prompt_template: "Review: {review}\nSentiment:", output_column: "output", adapter: { r: 4, alpha: 8, target_modules: ["q_proj", "v_proj"] }, trainer: { epochs: 1, batch_size: 16 } },
        });
      } catch (err) {
        if (!/HTTP 412/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(run).toMatchObject({ mine: true, adapterSlug: "reviews-http", totalSteps: 4 });

    // the SSE subscription until the run ends
    const res = await fetch(`${web.url}/api/trpc/train.progress?input=${encodeURIComponent(JSON.stringify({ json: { runId: run!.id } }))}`, { headers: { cookie, accept: "text/event-stream" } });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let buf = "";
    const steps: number[] = [];
    let status = "";
    let error: string | null = null;
    while (!["done", "failed", "cancelled"].includes(status)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const data = event.split("\n").find((l) => l.startsWith("data: "));
        if (!data || !event.includes('"run"')) continue;
        const e = (JSON.parse(data.slice(6)) as { json: { run: { status: string; error: string | null }; points: { step: number }[] } }).json;
        status = e.run.status;
        error = e.run.error;
        steps.push(...e.points.map((p) => p.step));
      }
    }
    await reader.cancel().catch(() => {});
    expect(status, error ?? "").toBe("done");
    expect(steps).toEqual([1, 2, 3, 4]);

    // the worker's adapter list is cached for a few seconds by the web server
    let adapter = await trpc("catalog.bySlug", { slug: "reviews-http" }, "GET");
    for (let i = 0; i < 40 && !(adapter.run as { runnable: boolean }).runnable; i++) {
      await new Promise((r) => setTimeout(r, 500));
      adapter = await trpc("catalog.bySlug", { slug: "reviews-http" }, "GET");
    }
    expect(adapter, JSON.stringify(adapter.run)).toMatchObject({ mine: true, collection: "user", promptTemplate: "Review: {review}\nSentiment:", trainedHere: { runId: run!.id, datasetName: "reviews.jsonl" }, run: { runnable: true } });
    expect(fs.existsSync(path.join(web.dataDir, "adapters", "reviews-http", "adapter_model.safetensors"))).toBe(true);
  }, 900_000);

  it("resumes a run from its checkpoint when the web server is killed and restarted (npm start's supervisor)", async () => {
    const run = await trpc("train.start", {
      dataset: { kind: "demo", task: "sentiment" },
      config: { adapter: { r: 4, alpha: 8, target_modules: ["q_proj", "v_proj"] }, trainer: { epochs: 10, batch_size: 16, max_examples: 64, checkpoint_every: 1 } },
    });
    const id = run.id as number;
    const state = async () => {
      try {
        return (await trpc("train.run", { id }, "GET")) as { run: { status: string; step: number; error: string | null }; points: { step: number }[] };
      } catch {
        return null; // the server is restarting
      }
    };
    for (let i = 0; i < 1200 && ((await state())?.run.step ?? 0) < 3; i++) await new Promise((r) => setTimeout(r, 250));
    expect((await state())!.run.status).toBe("running");

    // the web server's Next process (not the worker, not the supervisor): found by its PORT
    const webPid = fs
      .readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .find((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("web-server.mjs") && fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`PORT=${web.port}`);
        } catch {
          return false;
        }
      });
    expect(webPid).toBeDefined();
    process.kill(Number(webPid), "SIGKILL");

    let last: Awaited<ReturnType<typeof state>> = null;
    for (let i = 0; i < 2400; i++) {
      last = await state();
      if (last && ["done", "failed", "cancelled"].includes(last.run.status)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(last!.run.status, `${last!.run.error}\n${web.output().slice(-3000)}`).toBe("done");
    expect(web.output()).toMatch(new RegExp(`run #${id}: resuming from its checkpoint at step \\d+`));
    expect(last!.points.map((p) => p.step)).toEqual([...Array(40).keys()].map((i) => i + 1));
  }, 900_000);
});
