/**
 * The web's input schema and the worker's validation take their bounds from one module
 * (inference/request-limits.ts): at every bound, what one accepts the other accepts, and one past
 * it both refuse, so a request the web lets through is never refused by the worker for a bound
 * the web could have named (and the web refuses nothing the worker would serve).
 */
import { describe, expect, it } from "vitest";
import { REQUEST_LIMITS as L } from "../../inference/request-limits";
import { completionBodySchema, loraxBodySchema } from "../../inference/server/validation";
import { startInput } from "../../server/routers/generate";

type Params = Record<string, unknown>;
interface Case {
  name: string;
  /** the web's params (and alternatives) at the bound, and one past it */
  web: (past: boolean) => { params?: Params; alternatives?: number; adapters?: (string | null)[] };
  /** the same as the worker's LoRAX parameters and OpenAI completion fields */
  lorax: (past: boolean) => Params;
  openai: (past: boolean) => Params;
}

const stops = (past: boolean) => Array.from({ length: L.stopSequences + (past ? 1 : 0) }, (_, i) => `s${i}`);
const longStop = (past: boolean) => ["x".repeat(L.stopChars + (past ? 1 : 0))];
const id = (past: boolean) => "a".repeat(L.adapterIdChars + (past ? 1 : 0));
const num = (bound: number, step: number) => (past: boolean) => bound + (past ? step : 0);

const cases: Case[] = [
  { name: "stop sequences", web: (p) => ({ params: { stop: stops(p) } }), lorax: (p) => ({ stop: stops(p) }), openai: (p) => ({ stop: stops(p) }) },
  { name: "stop length", web: (p) => ({ params: { stop: longStop(p) } }), lorax: (p) => ({ stop: longStop(p) }), openai: (p) => ({ stop: longStop(p) }) },
  { name: "top_k", web: (p) => ({ params: { top_k: num(L.topK, 1)(p) } }), lorax: (p) => ({ top_k: num(L.topK, 1)(p) }), openai: (p) => ({ top_k: num(L.topK, 1)(p) }) },
  {
    name: "repetition_penalty",
    web: (p) => ({ params: { repetition_penalty: num(L.repetitionPenalty, 0.5)(p) } }),
    lorax: (p) => ({ repetition_penalty: num(L.repetitionPenalty, 0.5)(p) }),
    openai: (p) => ({ repetition_penalty: num(L.repetitionPenalty, 0.5)(p) }),
  },
  { name: "seed", web: (p) => ({ params: { seed: num(L.seed, 1)(p) } }), lorax: (p) => ({ seed: num(L.seed, 1)(p) }), openai: (p) => ({ seed: num(L.seed, 1)(p) }) },
  {
    name: "alternatives",
    web: (p) => ({ alternatives: num(L.alternatives, 1)(p) }),
    lorax: (p) => ({ return_k_alternatives: num(L.alternatives, 1)(p) }),
    openai: (p) => ({ logprobs: num(L.alternatives, 1)(p) }),
  },
  // the web may talk to an OpenAI server, so it takes OpenAI's temperature bound
  { name: "temperature", web: (p) => ({ params: { temperature: num(L.temperature, 0.5)(p) } }), lorax: () => ({ temperature: L.temperature }), openai: (p) => ({ temperature: num(L.temperature, 0.5)(p) }) },
  { name: "adapter id", web: (p) => ({ adapters: [id(p)] }), lorax: (p) => ({ adapter_id: id(p) }), openai: (p) => ({ model: id(p) }) },
];

const web = (c: Case, past: boolean) => {
  const w = c.web(past);
  return startInput.safeParse({ mode: "raw", adapters: w.adapters ?? [null], prompt: "p", params: { max_new_tokens: 4, ...w.params }, alternatives: w.alternatives }).success;
};
const lorax = (c: Case, past: boolean) => loraxBodySchema.safeParse({ inputs: "p", parameters: c.lorax(past) }).success;
const openai = (c: Case, past: boolean) => completionBodySchema.safeParse({ prompt: "p", ...c.openai(past) }).success;

describe("request bounds: the web and the worker agree", () => {
  for (const c of cases) {
    it(`${c.name}: accepted at the bound by both, refused past it by both`, () => {
      expect([web(c, false), lorax(c, false), openai(c, false)]).toEqual([true, true, true]);
      expect([web(c, true), openai(c, true)]).toEqual([false, false]);
      if (c.name !== "temperature") expect(lorax(c, true)).toBe(false);
    });
  }
});
