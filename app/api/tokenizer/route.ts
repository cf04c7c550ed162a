/**
 * `GET /api/tokenizer`: the served base model's tokenizer for the browser's token counter
 * (components/playground/local-tokenizer.ts): `{tokenizer, config}`, the built-in worker's
 * MODEL_DIR `tokenizer.json` and `tokenizer_config.json`, with an ETag (a reload revalidates: 304).
 * Handed out only once this server has checked that it counts like the worker does (the same
 * count as the worker's `POST /tokenize` for a probe text of mixed scripts, emoji and spaces), so
 * an external worker (INFERENCE_URL) on the same model gets it, and one on another model
 * (MODEL_REPO, LoRAX on a Hub model) or without /tokenize (OpenAI protocol) gets
 * `{tokenizer: null, reason}` (200, not 404: every page load would log a console error), and the
 * page asks the worker through tRPC `generate.tokenCount`. Files over 12 MiB get it too.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { NextResponse } from "next/server";
import { localCounter, type TokenizerFiles } from "@/components/playground/local-tokenizer";
import { getEnv, inferenceUrl } from "@/server/env";
import { envTarget } from "@/server/inference/client";
import { countTokens } from "@/server/inference/stream";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

/** a Llama 3 tokenizer.json is 9 MB; bigger ones are not worth a page's download for a counter */
export const MAX_TOKENIZER_BYTES = 12 * 1024 * 1024;

/** tokens a wrong tokenizer would very likely count differently */
export const PROBE_TEXT =
  "  Leading spaces, tabs\tand\nnewlines\n\n; unicode: naïve café Ærøskøbing — 東京都 日本語 한국어 Привет мир العربية; emoji: 👋🏽 🧑‍💻 🇫🇷; code: def f(x):\n    return x**2  # ok\n<s> </s> [INST] 1234567890 3.14159 ";

interface Prepared {
  key: string;
  etag: string;
  body: string;
  files: TokenizerFiles;
}

let prepared: Prepared | null = null;
/** per worker URL + ETag: whether the worker counts the probe as we do (only definite answers are kept) */
const verdicts = new Map<string, Promise<boolean | null>>();

async function readFiles(dir: string): Promise<Prepared | null> {
  const jsonFile = path.join(dir, "tokenizer.json");
  const configFile = path.join(dir, "tokenizer_config.json");
  const stats = await Promise.all([fs.stat(jsonFile), fs.stat(configFile).catch(() => null)]).catch(() => null);
  if (!stats) return null;
  const [js, cs] = stats;
  if (js.size + (cs?.size ?? 0) > MAX_TOKENIZER_BYTES) return null;
  const key = `${dir} ${js.size} ${js.mtimeMs} ${cs?.size ?? "-"} ${cs?.mtimeMs ?? "-"}`;
  if (prepared?.key === key) return prepared;
  const json = await fs.readFile(jsonFile, "utf8");
  const config = cs ? await fs.readFile(configFile, "utf8") : "{}";
  const files = { tokenizer: JSON.parse(json) as Record<string, unknown>, config: JSON.parse(config) as Record<string, unknown> };
  const body = `{"tokenizer":${json},"config":${config}}`;
  prepared = { key, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`, body, files };
  return prepared;
}

async function workerAgrees(p: Prepared): Promise<boolean | null> {
  const env = getEnv();
  const key = `${inferenceUrl(env)} ${p.etag}`;
  let verdict = verdicts.get(key);
  if (!verdict) {
    verdict = (async () => {
      let ours: number;
      try {
        ours = localCounter(p.files).count(PROBE_TEXT);
      } catch {
        return false; // the library cannot build it: the browser could not either
      }
      try {
        return (await countTokens(await envTarget(env), PROBE_TEXT, AbortSignal.timeout(10_000))) === ours;
      } catch {
        return null; // the worker is not answering: ask again next time
      }
    })();
    verdicts.set(key, verdict);
    void verdict.then((v) => v === null && verdicts.delete(key));
  }
  return verdict;
}

/** no tokenizer for the browser, and why */
function notFound(reason: string) {
  return NextResponse.json({ tokenizer: null, config: null, reason }, { headers: { "cache-control": "no-store" } });
}

export async function GET(req: Request) {
  const env = getEnv();
  if (env.INFERENCE_PROTOCOL !== "lorax") return notFound("the worker speaks the OpenAI protocol: its tokenizer is not known here");
  let p: Prepared | null;
  try {
    p = await readFiles(env.MODEL_DIR);
  } catch {
    p = null;
  }
  if (!p) return notFound(`no tokenizer.json under MODEL_DIR of at most ${MAX_TOKENIZER_BYTES} bytes`);
  const agrees = await workerAgrees(p);
  if (agrees === null) return notFound("the worker is not answering, so its tokenizer cannot be checked");
  if (!agrees) return notFound("the worker's tokenizer is not MODEL_DIR's (its /tokenize counts differently)");
  const headers = { etag: p.etag, "cache-control": "no-cache" };
  if (req.headers.get("if-none-match") === p.etag) return new NextResponse(null, { status: 304, headers });
  return new NextResponse(p.body, { headers: { ...headers, "content-type": "application/json; charset=utf-8" } });
}
