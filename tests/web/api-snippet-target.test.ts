/**
 * Issue 14 bug 8: "Use via API" must not present the internal worker address as if anyone could
 * reach it: PUBLIC_INFERENCE_URL wins when set; else the worker's address comes with a note (a
 * loopback one answers on the server machine only). The status router hands it to the page.
 */
import { describe, expect, it } from "vitest";
import { EnvError, parseEnv } from "../../server/env";
import { snippetTarget } from "../../server/routers/status";

describe("snippet target", () => {
  it("PUBLIC_INFERENCE_URL is shown as it is, without a note", () => {
    expect(snippetTarget("http://127.0.0.1:8081", "https://llm.example.org")).toEqual({ url: "https://llm.example.org", note: null });
  });

  it("a loopback worker address is shown with the server-machine-only note", () => {
    for (const u of ["http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081", "http://0.0.0.0:8081"]) {
      const t = snippetTarget(u, undefined);
      expect(t.url).toBe(u);
      expect(t.note).toMatch(/server machine only; set PUBLIC_INFERENCE_URL/);
    }
  });

  it("another worker address says it is the server's view of it", () => {
    expect(snippetTarget("http://worker:8081", undefined).note).toMatch(/as the web server reaches it; set PUBLIC_INFERENCE_URL/);
    // and where else to go: the site's own keyed proxy (app/api/v1)
    expect(snippetTarget("http://worker:8081", undefined).note).toMatch(/\/api\/v1/);
  });

  it("PUBLIC_INFERENCE_URL is parsed (trailing slash cut); a bad one names the variable", () => {
    expect(parseEnv({ PUBLIC_INFERENCE_URL: "https://llm.example.org/" }).PUBLIC_INFERENCE_URL).toBe("https://llm.example.org");
    expect(() => parseEnv({ PUBLIC_INFERENCE_URL: "not a url" })).toThrow(EnvError);
    expect(() => parseEnv({ PUBLIC_INFERENCE_URL: "not a url" })).toThrow(/PUBLIC_INFERENCE_URL/);
  });
});
