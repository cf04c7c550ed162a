/**
 * The browser's token counter (components/playground/local-tokenizer.ts, run here in Node) counts
 * exactly what the REAL worker's `POST /tokenize` answers, for the demo model and the three fixture
 * tokenizers (Llama SentencePiece-style BPE, Mistral, Llama 3 byte-level BPE), on tricky strings;
 * and GET /api/tokenizer hands the files out (ETag, 304) only when the worker counts like them
 * (else `{tokenizer: null, reason}`).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCounter, type TokenizerFiles } from "../../components/playground/local-tokenizer";
import { FIXTURES, ROOT, startWorker, type Worker } from "../worker/worker-helpers";

const TRICKY = [
  "a",
  " leading space",
  "   three leading spaces and trailing   ",
  "\nstarts with a newline\n\nand blank lines\n",
  "tabs\tand\r\nCRLF",
  "naïve café Ærøskøbing Ünïcödé",
  "東京都の天気は晴れです。日本語のテキスト",
  "한국어 Привет мир العربية עברית हिन्दी",
  "emoji 👋🏽 🧑‍💻 🇫🇷 ❤️ 🎉🎉🎉",
  "combining e\u0301 and zero\u200bwidth",
  "<s> </s> [INST] hi [/INST] <|begin_of_text|>",
  "def f(x):\n    return x ** 2  # comment\n",
  "1234567890 3.14159 -42 1e10",
  "SELECT * FROM t WHERE a = 'b';",
  ("The quick brown fox jumps over the lazy dog. 東京 👋 naïve\n").repeat(200),
];

function filesOf(dir: string): TokenizerFiles {
  return {
    tokenizer: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    config: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  };
}

/** the worker's count; null when it refuses the text as longer than its context could hold (tiny fixtures) */
async function workerCount(url: string, text: string): Promise<number | null> {
  const res = await fetch(`${url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: text }) });
  const body = (await res.json()) as unknown[] | { code?: string };
  if (res.status === 422 && !Array.isArray(body) && body.code === "prompt_too_long") return null;
  expect(res.status).toBe(200);
  return (body as unknown[]).length;
}

const MODELS = [
  { name: "demo", dir: path.join(ROOT, "data/demo/base") },
  ...["tiny-llama", "tiny-mistral", "tiny-llama3"].map((n) => ({ name: n, dir: path.join(FIXTURES, n, "base") })),
];

describe.each(MODELS)("local count vs the worker's /tokenize: $name", ({ dir }) => {
  let w: Worker;
  beforeAll(async () => {
    w = await startWorker(["--model", dir]);
  });
  afterAll(async () => {
    await w?.stop();
  });

  it("counts every tricky string as the worker does", async () => {
    const c = localCounter(filesOf(dir));
    let compared = 0;
    for (const text of TRICKY) {
      const theirs = await workerCount(w.url, text);
      if (theirs === null) continue;
      expect({ text: text.slice(0, 40), n: c.count(text) }).toEqual({ text: text.slice(0, 40), n: theirs });
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(TRICKY.length - 1);
  });
});

describe("GET /api/tokenizer", () => {
  let w: Worker;
  let GET: (req: Request) => Promise<Response>;
  let env: { MODEL_DIR: string };
  beforeAll(async () => {
    w = await startWorker(["--model", path.join(ROOT, "data/demo/base")]);
    process.env.INFERENCE_URL = w.url;
    process.env.INFERENCE_PROTOCOL = "lorax";
    process.env.MODEL_DIR = path.join(ROOT, "data/demo/base");
    ({ GET } = await import("../../app/api/tokenizer/route"));
    env = (await import("../../server/env")).getEnv();
  });
  afterAll(async () => {
    await w?.stop();
  });

  it("serves MODEL_DIR's files with an ETag when the worker counts like them; 304 on revalidation", async () => {
    const res = await GET(new Request("http://x/api/tokenizer"));
    expect(res.status).toBe(200);
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const files = (await res.json()) as TokenizerFiles;
    expect(files).toEqual(filesOf(env.MODEL_DIR));
    expect(localCounter(files).count("héllo 👋")).toBe(await workerCount(w.url, "héllo 👋"));
    const again = await GET(new Request("http://x/api/tokenizer", { headers: { "if-none-match": etag } }));
    expect(again.status).toBe(304);
  });

  it("no tokenizer, with the reason, when MODEL_DIR's is not the worker's (another model), or there is none", async () => {
    env.MODEL_DIR = path.join(FIXTURES, "tiny-mistral/base"); // the worker still serves the demo model
    const res = await GET(new Request("http://x/api/tokenizer"));
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBeNull();
    expect(await res.json()).toMatchObject({ tokenizer: null, reason: expect.stringMatching(/counts differently/) });
    env.MODEL_DIR = path.join(ROOT, "no-such-model");
    expect(await (await GET(new Request("http://x/api/tokenizer"))).json()).toMatchObject({ tokenizer: null, reason: expect.stringMatching(/no tokenizer.json/) });
  });
});
