/**
 * A deterministic stand-in that speaks the worker's LoRAX/TGI and OpenAI streaming protocols with
 * no model behind it: for UI layout work and for separating web overhead from model noise. Never
 * a substitute for the real worker in tests of behaviour.
 *
 * Output for a request: `max_new_tokens` tokens " w0", " w1", ... (prefixed by the adapter id's
 * first letter, so panes differ), one every `delayMs`, then EOS. The prompt "FAIL" answers 424.
 *
 *   npx tsx bench/web/fake-worker.ts --port 8099 [--delay-ms 20]
 */
import http from "node:http";

export interface FakeWorker {
  url: string;
  close(): Promise<void>;
  /** emit times (ms, performance.timeOrigin-based) per request, for overhead measurements */
  emitted: Map<string, number[]>;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    req.on("data", (c: Buffer) => (s += c.toString()));
    req.on("end", () => resolve(s));
    req.on("error", reject);
  });
}

const now = () => performance.timeOrigin + performance.now();

export function fakeTokens(adapterId: string | null, n: number): string[] {
  const p = adapterId ? adapterId[0] : "b";
  return Array.from({ length: n }, (_, i) => ` ${p}${i}`);
}

export async function startFakeWorker(opts: { port?: number; delayMs?: number } = {}): Promise<FakeWorker> {
  const delayMs = opts.delayMs ?? 20;
  const emitted = new Map<string, number[]>();
  let counter = 0;
  const server = http.createServer(async (req, res) => {
    const url = req.url ?? "/";
    if (req.method === "GET" && url === "/health") return void res.writeHead(200).end();
    if (req.method === "GET" && url === "/info") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ model_id: "loraland-mini", max_input_length: 2048, max_total_tokens: 4096, backend: "fake" }));
    }
    if (req.method !== "POST") return void res.writeHead(404).end();
    const body = JSON.parse((await readBody(req)) || "{}") as {
      inputs?: string;
      prompt?: string;
      model?: string;
      max_tokens?: number;
      parameters?: { adapter_id?: string; max_new_tokens?: number };
    };
    if (url === "/tokenize") {
      const words = (body.inputs ?? "").split(/\s+/).filter(Boolean);
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify([{ id: 1, text: "<s>" }, ...words.map((w, i) => ({ id: i + 10, text: w }))]));
    }
    const lorax = url === "/generate_stream";
    const prompt = lorax ? (body.inputs ?? "") : (body.prompt ?? "");
    if (prompt === "FAIL") {
      res.writeHead(424, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: "generation failed on purpose", error_type: "generation" }));
    }
    const adapter = lorax ? (body.parameters?.adapter_id ?? null) : body.model || null;
    const n = lorax ? (body.parameters?.max_new_tokens ?? 16) : (body.max_tokens ?? 16);
    const key = `r${counter++}`;
    const times: number[] = [];
    emitted.set(key, times);
    res.writeHead(200, { "content-type": "text/event-stream", "x-request-key": key });
    let closed = false;
    res.on("close", () => (closed = true));
    const toks = fakeTokens(adapter, n);
    for (let i = 0; i <= n && !closed; i++) {
      await new Promise((r) => setTimeout(r, delayMs));
      const last = i === n;
      const text = last ? "</s>" : toks[i]!;
      times.push(now());
      if (lorax) {
        res.write(
          `data: ${JSON.stringify({
            token: { id: last ? 2 : 100 + i, text, logprob: -0.1 * (i % 5), special: last },
            generated_text: last ? toks.join("") : null,
            details: last ? { finish_reason: "eos_token", prompt_tokens: prompt.split(/\s+/).length + 1, generated_tokens: n + 1, seed: null } : null,
          })}\n\n`,
        );
      } else {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: last ? "" : text, finish_reason: last ? "stop" : null, logprobs: null }] })}\n\n`);
        if (last) res.write("data: [DONE]\n\n");
      }
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    emitted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const w = await startFakeWorker({ port: arg("--port") ?? 8099, delayMs: arg("--delay-ms") });
  console.log(JSON.stringify({ event: "fake_worker_ready", url: w.url }));
}
