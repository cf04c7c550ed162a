/**
 * "Copy link" query strings round-trip, and the "Use via API" snippets really run: the curl
 * command (in a shell) and the openai SDK program (with tsx) against the real worker give the
 * worker's own answer for the same greedy request.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { curlSnippet, openaiSnippet } from "../../components/playground/api-snippets";
import { parseSetup, setupQuery } from "../../components/playground/url-state";
import { realWorkerAvailable } from "../e2e/playground-harness";
import { spawnRealWorker, type RunningWorker } from "./generate-worker-process";

describe("copy-link query strings", () => {
  it("round-trip adapters, template inputs and parameters (odd characters included)", () => {
    const params = { max_new_tokens: 40, temperature: 0.7, top_p: 0.9, seed: 7, stop: ["\n\n", "END"], ignore_eos: true };
    const q = setupQuery({ models: ["ner", "base"], mode: "template", inputs: { sentence: 'Ann & "Bob" = 100% {x}\nnext' }, params, autorun: true }, true);
    const back = parseSetup(Object.fromEntries(new URLSearchParams(q)));
    expect(back).toEqual({ models: ["ner", "base"], mode: "template", inputs: { sentence: 'Ann & "Bob" = 100% {x}\nnext' }, prompt: null, params, autorun: true });
    const raw = parseSetup(Object.fromEntries(new URLSearchParams(setupQuery({ models: ["sql"], mode: "raw", prompt: "SELECT?", params: { max_new_tokens: 5 } }, false))));
    expect([raw.models, raw.mode, raw.prompt, raw.params]).toEqual([["sql"], "raw", "SELECT?", { max_new_tokens: 5 }]);
    // junk in a link is ignored, not trusted
    expect(parseSetup({ mode: "evil", "p.temperature": "abc", "p.nope": "1", adapters: "a,b,c,d,e,f,g,h" })).toMatchObject({ mode: null, params: {}, models: ["a", "b", "c", "d", "e", "f"] });
  });
});

describe.runIf(realWorkerAvailable())("Use via API snippets against the real worker", () => {
  let w: RunningWorker;
  beforeAll(async () => {
    w = await spawnRealWorker(path.resolve("data/demo/base"), path.resolve("data/demo/adapters"));
  }, 180_000);
  afterAll(async () => {
    await w?.stop();
  });

  const prompt = "Give the ARPAbet pronunciation of the word.\n\nWord: it's\nPronunciation:";
  const params = { max_new_tokens: 12, temperature: 0 };

  async function reference(): Promise<string> {
    const res = await fetch(`${w.url}/generate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: prompt, parameters: { adapter_id: "cmudict", max_new_tokens: 12 } }),
    });
    return ((await res.json()) as { generated_text: string }).generated_text;
  }

  it("the curl snippet (a prompt with a quote and newlines) runs in a shell and answers the same", async () => {
    const out = execFileSync("bash", ["-c", curlSnippet(w.url, "cmudict", prompt, params) + " -s"], { encoding: "utf8" });
    expect((JSON.parse(out) as { generated_text: string }).generated_text).toBe(await reference());
  });

  it("the openai SDK snippet runs and streams the same text", async () => {
    const dir = fs.mkdtempSync(path.join(process.cwd(), ".snippet-"));
    try {
      const file = path.join(dir, "snippet.mts");
      fs.writeFileSync(file, openaiSnippet(w.url, "cmudict", prompt, params));
      const out = execFileSync(process.execPath, [path.resolve("node_modules/tsx/dist/cli.mjs"), file], { encoding: "utf8", cwd: process.cwd() });
      expect(out).toBe(await reference());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

