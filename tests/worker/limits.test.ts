/**
 * The worker stays responsive (issue 12, items 5, 7, 8), against the real worker on the
 * tiny-llama fixture: prompts are bounded by bytes before they are tokenized, long ones are
 * tokenized in the tokenizer thread with the same ids as the engine's tokenizer; slow clients get
 * 408 and their connection closed, a stream is never cut by those timeouts; connections over the
 * cap get 429 with Retry-After; deeply nested JSON in a validated field is a 422.
 * No assertion depends on timing: timeouts are short, and each check waits for its outcome.
 */
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, metric, postJson, startWorker, type Worker } from "./worker-helpers";
import { Tokenizer } from "../../inference/tokenizer/tokenizer";
import { tokenSpans } from "../../inference/tokenizer/token-spans.mjs";

const fx = path.join(FIXTURES, "tiny-llama");
// tiny-llama: 256 tokens of context; its longest token is 16 "▁" (48 bytes)
const MAX_INPUT_BYTES = 256 * 48;

let w: Worker;
let tok: Tokenizer;
beforeAll(async () => {
  tok = await Tokenizer.load(path.join(fx, "base"));
  w = await startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--model-id", "tiny-llama", "--max-new-tokens", "300", "--headers-timeout-ms", "1000", "--body-timeout-ms", "2000"]);
});
afterAll(async () => {
  await w?.stop();
});

/** one raw HTTP exchange: writes `parts` (a number = pause that many ms), resolves with all it read once the server closes */
function raw(url: string, parts: (string | number)[]): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname);
    let got = "";
    s.on("data", (d) => (got += d.toString()));
    s.on("close", () => resolve(got));
    s.on("error", reject);
    s.once("connect", async () => {
      for (const p of parts) {
        if (typeof p === "number") await new Promise((r) => setTimeout(r, p));
        else s.write(p);
      }
    });
  });
}

describe("item 5: long prompts", () => {
  it("/info says the byte bound: the context times the longest token", async () => {
    const info = await (await fetch(`${w.url}/info`)).json();
    expect(info.max_input_bytes).toBe(MAX_INPUT_BYTES);
  });

  it("a prompt over the byte bound is refused before tokenizing: 422 naming the field and the limit", async () => {
    const big = "a ".repeat(MAX_INPUT_BYTES / 2) + "b"; // one byte over
    const before = await metric(w.url, "worker_tokenized_off_loop_total");
    for (const [route, body, field] of [
      ["/generate", { inputs: big }, "inputs"],
      ["/generate_stream", { inputs: big }, "inputs"],
      ["/tokenize", { inputs: big }, "inputs"],
      ["/v1/completions", { prompt: big }, "prompt"],
    ] as const) {
      const r = await postJson(`${w.url}${route}`, body);
      expect(r.status, route).toBe(422);
      const err = route.startsWith("/v1/") ? { code: r.body.error.code, field: r.body.error.param, message: r.body.error.message } : { ...r.body, message: r.body.error };
      expect(err.code, route).toBe("prompt_too_long");
      expect(err.field, route).toBe(field);
      expect(err.message, route).toContain(`${MAX_INPUT_BYTES + 1} bytes`);
      expect(err.message, route).toContain(`at most ${MAX_INPUT_BYTES} bytes`);
    }
    // a 1 MB prompt the same way
    const mb = await postJson(`${w.url}/generate`, { inputs: "x".repeat(1_000_000) });
    expect([mb.status, mb.body.code, mb.body.field]).toEqual([422, "prompt_too_long", "inputs"]);
    expect(await metric(w.url, "worker_tokenized_off_loop_total")).toBe(before); // none was tokenized
  });

  it("a long prompt that fits is tokenized in the tokenizer thread, with the engine tokenizer's ids", async () => {
    // > 2 KiB of text in < 256 tokens: a run of 16 spaces is one token
    const text = `Once upon a time${" ".repeat(2200)}there was a cat`;
    const ids = tok.encode(text);
    expect(Buffer.byteLength(text)).toBeGreaterThan(2048);
    expect(ids.length).toBeLessThan(200);
    const before = await metric(w.url, "worker_tokenized_off_loop_total");
    const t = await postJson(`${w.url}/tokenize`, { inputs: text });
    expect(t.status).toBe(200);
    const special = new Set([tok.bosId, ...tok.eosIds]);
    expect(t.body).toEqual(tokenSpans(ids, (x, skip) => (x.length ? tok.decode(x, { skipSpecialTokens: skip }) : ""), (id) => special.has(id)));
    const g = await postJson(`${w.url}/generate`, { inputs: text, parameters: { max_new_tokens: 2, details: true, decoder_input_details: true } });
    expect(g.status, JSON.stringify(g.body)).toBe(200);
    expect(g.body.details.prefill.map((p: { id: number }) => p.id)).toEqual(ids);
    expect(await metric(w.url, "worker_tokenized_off_loop_total")).toBe(before + 2);
  });
});

describe("item 8: deeply nested JSON", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  it("50k-deep JSON in a validated field is a 422 naming the field, not a 500", async () => {
    for (const [route, body, field] of [
      ["/generate", `{"inputs":"hi","parameters":{"stop":${deep(50_000)}}}`, "parameters.stop"],
      ["/generate", `{"inputs":${deep(50_000)}}`, "inputs"],
      ["/tokenize", `{"inputs":${deep(50_000)}}`, "inputs"],
      ["/v1/completions", `{"prompt":"hi","stop":${deep(50_000)}}`, "stop"],
      ["/v1/chat/completions", `{"messages":${deep(50_000)}}`, "messages"],
      ["/adapters", `{"id":"x","source":"local","path":${deep(50_000)}}`, "path"],
    ] as const) {
      const r = await postJson(`${w.url}${route}`, body);
      expect(r.status, `${route} ${JSON.stringify(r.body).slice(0, 200)}`).toBe(422);
      expect(route.startsWith("/v1/") ? r.body.error.param : r.body.field, route).toMatch(new RegExp(`^${field.replace(".", "\\.")}(\\.|$)`));
    }
  });
});

describe("found by the fuzzer (npm run fuzz:worker)", () => {
  it("a path that is not valid percent-encoding is a 400 naming the parameter, not a 500", async () => {
    for (const p of ["/adapters/%", "/adapters/%E0%A4%A", "/adapters/a%zz"]) {
      for (const method of ["GET", "DELETE"]) {
        const r = await fetch(`${w.url}${p}`, { method });
        expect(r.status, `${method} ${p}`).toBe(400);
        expect(await r.json()).toMatchObject({ code: "invalid_request", field: "id" });
      }
    }
  });
});

describe("item 7: slow clients and the connection cap", () => {
  it("headers that never finish get 408 and the connection closed", async () => {
    const got = await raw(w.url, ["POST /generate HTTP/1.1\r\nHost: x\r\n"]);
    expect(got).toMatch(/^HTTP\/1\.1 408/);
  }, 20_000); // the old worker held such a socket for 66 s

  it("a body that never finishes gets 408 and the connection closed", async () => {
    const got = await raw(w.url, ["POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":"]);
    expect(got).toMatch(/^HTTP\/1\.1 408/);
  }, 20_000);

  it("a stream that outlives the body timeout is not cut", async () => {
    const res = await fetch(`${w.url}/generate_stream`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: "hello", parameters: { max_new_tokens: 200, ignore_eos_token: true } }) });
    const reader = res.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    await new Promise((r) => setTimeout(r, 3500)); // past the 2 s body timeout and its 1 s check
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const last = JSON.parse(text.trim().split("\n\n").at(-1)!.replace(/^data:/, ""));
    expect(last.details.generated_tokens).toBe(200);
  });
});

describe("item 7: connection cap (its own worker, --max-connections 3)", () => {
  let cw: Worker;
  beforeAll(async () => {
    cw = await startWorker(["--model", path.join(fx, "base"), "--adapters", path.join(fx, "adapters"), "--max-connections", "3"]);
  });
  afterAll(async () => {
    await cw?.stop();
  });

  it("a request on a connection over the cap gets 429 with Retry-After and a JSON error, not a dropped socket", async () => {
    const { hostname, port } = new URL(cw.url);
    // hold the cap's worth of idle connections (the health check's keep-alive socket may be one more)
    const held = await Promise.all([0, 1, 2].map(() => new Promise<net.Socket>((resolve) => { const s = net.connect(Number(port), hostname, () => resolve(s)); })));
    const got = await raw(cw.url, ["GET /info HTTP/1.1\r\nHost: x\r\n\r\n"]);
    expect(got).toMatch(/^HTTP\/1\.1 429/);
    expect(got).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(got).toMatch(/\r\nconnection: close\r\n/i);
    const body = JSON.parse(got.slice(got.indexOf("\r\n\r\n") + 4));
    expect(body).toMatchObject({ code: "too_many_connections", error_type: "overloaded" });
    for (const s of held) s.destroy();
    // once they are gone, requests are served again
    for (let i = 0; ; i++) {
      const r = await raw(cw.url, ["GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]);
      if (r.startsWith("HTTP/1.1 200")) break;
      if (i > 200) throw new Error(`still refused: ${r.slice(0, 100)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await metric(cw.url, "worker_requests_rejected_total")).toBeGreaterThanOrEqual(1);
  });
});
