/**
 * The model's tokenizer in a worker_threads Worker, so that encoding a long prompt (≈6 µs per
 * byte: a 64 KB prompt is ~0.4 s of BPE) never stops the worker's event loop and its streams.
 * Plain JavaScript (no TypeScript loader in the thread); built exactly as tokenizer.ts builds it
 * (`new Tokenizer(tokenizer.json, tokenizer_config.json)`), so ids equal `Engine.encode`'s.
 *
 * workerData { dir }
 * Request  { id, op: "encode", text }              -> { id, ok: true, ids: Int32Array }   (transferred)
 *          { id, op: "spans", text, special: [] }  -> { id, ok: true, spans: TokenSpan[] }
 * Error    { id, ok: false, message }
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { Tokenizer } from "@huggingface/tokenizers";
import { tokenSpans } from "./token-spans.mjs";

const dir = workerData.dir;
const json = JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
const configFile = path.join(dir, "tokenizer_config.json");
const config = existsSync(configFile) ? JSON.parse(readFileSync(configFile, "utf8")) : {};
const tok = new Tokenizer(json, config);
const encode = (text) => tok.encode(text, { add_special_tokens: true }).ids;
// as Engine.decode: "" for no ids, no clean-up of tokenization spaces
const decode = (ids, skipSpecial) => (ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: skipSpecial, clean_up_tokenization_spaces: false }));

parentPort.on("message", (m) => {
  try {
    if (m.op === "encode") {
      const ids = Int32Array.from(encode(m.text));
      parentPort.postMessage({ id: m.id, ok: true, ids }, [ids.buffer]);
    } else if (m.op === "spans") {
      const special = new Set(m.special);
      parentPort.postMessage({ id: m.id, ok: true, spans: tokenSpans(encode(m.text), decode, (id) => special.has(id)) });
    } else {
      parentPort.postMessage({ id: m.id, ok: false, message: `unknown op ${m.op}` });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) });
  }
});
