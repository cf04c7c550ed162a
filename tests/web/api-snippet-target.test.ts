/**
 * Issue 14 bug 8: "Use via API" must not present the internal worker address as if anyone could
 * reach it: PUBLIC_INFERENCE_URL when set; else this site's keyed /api/v1 proxy (the snippets
 * really run through it: tests/web/api-v1-proxy.test.ts). The status router hands it to the page.
 */
import { describe, expect, it } from "vitest";
import { EnvError, parseEnv } from "../../server/env";
import { openaiSnippet, proxyCurlSnippet } from "../../components/playground/api-snippets";
import { snippetTarget } from "../../server/routers/status";

describe("snippet target", () => {
  it("PUBLIC_INFERENCE_URL is shown as it is, without a note", () => {
    expect(snippetTarget("https://llm.example.org")).toEqual({ url: "https://llm.example.org", note: null });
  });

  it("without it the snippets go through this site's keyed /api/v1 proxy, and the note says how to call it", () => {
    const t = snippetTarget(undefined);
    expect(t.url).toBeNull();
    expect(t.note).toMatch(/\/api\/v1/);
    expect(t.note).toMatch(/Authorization: Bearer <ADMIN_TOKEN>/);
    expect(t.note).toMatch(/PUBLIC_INFERENCE_URL/);
  });

  it("the proxy snippets name the site's /api/v1 and send the admin token", () => {
    const params = { max_new_tokens: 8, temperature: 0 };
    const curl = proxyCurlSnippet("https://land.example/api/v1", "sql", "it's", params);
    expect(curl).toMatch(/^curl https:\/\/land\.example\/api\/v1\/completions /);
    expect(curl).toContain(`-H "Authorization: Bearer $ADMIN_TOKEN"`);
    const sdk = openaiSnippet("https://land.example/api", "sql", "it's", params, true);
    expect(sdk).toContain(`baseURL: "https://land.example/api/v1", apiKey: process.env.ADMIN_TOKEN`);
  });

  it("PUBLIC_INFERENCE_URL is parsed (trailing slash cut); a bad one names the variable", () => {
    expect(parseEnv({ PUBLIC_INFERENCE_URL: "https://llm.example.org/" }).PUBLIC_INFERENCE_URL).toBe("https://llm.example.org");
    expect(() => parseEnv({ PUBLIC_INFERENCE_URL: "not a url" })).toThrow(EnvError);
    expect(() => parseEnv({ PUBLIC_INFERENCE_URL: "not a url" })).toThrow(/PUBLIC_INFERENCE_URL/);
  });
});
