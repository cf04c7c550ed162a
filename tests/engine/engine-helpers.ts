/** Shared helpers of the engine tests (real model, real adapters, native backend). */
import fs from "node:fs";
import path from "node:path";
import type { Engine } from "../../inference/engine/engine";
import type { DoneEvent, EngineEvent, GenerateRequest, TokenEvent } from "../../inference/engine/types";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const FIXTURES = path.join(ROOT, "tests/data/fixtures");
export const DEMO = path.join(ROOT, "data/demo");
export const FIXTURE_NAMES = ["tiny-llama", "tiny-mistral", "tiny-llama3"] as const;
export const FIXTURE_ADAPTERS = ["qv-r8", "all-r16", "mlp-r4-rs", "attn-r2"] as const;
export const DEMO_ADAPTERS = ["sql", "sentiment", "ner"] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fixture JSON, shapes checked by the tests
export function readJson<T = any>(file: string): T {
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

export interface Collected {
  tokens: TokenEvent[];
  done: DoneEvent | null;
  error: { code: string; message: string } | null;
  ids: number[];
  text: string;
}

export async function collect(events: AsyncIterable<EngineEvent>, onToken?: (ev: TokenEvent, n: number) => void): Promise<Collected> {
  const out: Collected = { tokens: [], done: null, error: null, ids: [], text: "" };
  for await (const ev of events) {
    if (ev.type === "token") {
      out.tokens.push(ev);
      out.ids.push(ev.id);
      out.text += ev.text;
      onToken?.(ev, out.tokens.length);
    } else if (ev.type === "done") out.done = ev;
    else out.error = { code: ev.code, message: ev.message };
  }
  return out;
}

export function run(engine: Engine, req: GenerateRequest): Promise<Collected> {
  return collect(engine.generate(req));
}
