/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are untyped JSON checked field by field */
/**
 * Test helpers: start the real worker process (`node --import tsx inference/cli/main.ts serve`) on a free port
 * and wait for GET /health 200; read SSE streams the way LoRAX clients do (eventsource-parser).
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { EventSourceParserStream } from "eventsource-parser/stream";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const FIXTURES = path.join(ROOT, "tests/data/fixtures");

import { freePort } from "../../server/eval/worker-process";

export { freePort };

export interface Worker {
  url: string;
  child: ChildProcess;
  /** everything the worker wrote on stderr so far */
  logs(): string;
  /** SIGTERM and wait for the exit; resolves to the exit code */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startWorker(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Worker> {
  const port = await freePort();
  // node with tsx as a loader, not tsx's CLI: the CLI relays SIGTERM to its child and SIGKILLs it
  // when the child has not confirmed within 30 ms — on a busy machine, before it could shut down
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "inference/cli/main.ts"), "serve", "--port", String(port), "--host", "127.0.0.1", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  child.stdout!.on("data", (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}\n${log}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`worker not ready\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, logs: () => log, stop, exited };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** POST and read the SSE answer with eventsource-parser; every `data:` parsed as JSON (except [DONE]). */
export async function sse(url: string, body: unknown): Promise<{ status: number; headers: Headers; events: any[]; raw: string[] }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify(body) });
  if (!res.ok || !res.headers.get("content-type")?.startsWith("text/event-stream")) {
    return { status: res.status, headers: res.headers, events: [await res.json()], raw: [] };
  }
  const events: any[] = [];
  const raw: string[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    raw.push(value.data);
    if (value.data !== "[DONE]") events.push(JSON.parse(value.data));
  }
  return { status: res.status, headers: res.headers, events, raw };
}

/** one Prometheus sample value (labels ignored; summed) */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) {
      sum += Number(m[3]);
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} not in /metrics`);
  return sum;
}
