import path from "node:path";
import { describe, expect, it } from "vitest";
import { EnvError, inferenceUrl, parseEnv } from "../../server/env";

describe("env", () => {
  it("has working defaults: embedded PGlite, bundled model and adapters, the built-in worker", () => {
    const env = parseEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.WORKER_PORT).toBe(8081);
    expect(env.DATA_DIR).toBe(path.resolve(".data"));
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.MODEL_DIR).toBe(path.resolve("data/demo/base"));
    expect(env.ADAPTERS_DIR).toBe(path.resolve("data/demo/adapters"));
    expect(env.INFERENCE_PROTOCOL).toBe("lorax");
    expect(inferenceUrl(env)).toBe("http://127.0.0.1:8081");
  });

  it("reads every documented variable", () => {
    const env = parseEnv({
      PORT: "4000", WORKER_PORT: "9000", DATA_DIR: "/tmp/x", DATABASE_URL: "postgres://u@h:5432/db",
      MODEL_DIR: "/m", ADAPTERS_DIR: "/a", INFERENCE_URL: "http://gpu:8080/", INFERENCE_PROTOCOL: "openai",
      HF_ENDPOINT: "http://hub.local", HF_TOKEN: "hf_x", CHROME_PATH: "/usr/bin/chromium",
    });
    expect(env).toMatchObject({
      PORT: 4000, WORKER_PORT: 9000, DATA_DIR: "/tmp/x", DATABASE_URL: "postgres://u@h:5432/db", MODEL_DIR: "/m",
      ADAPTERS_DIR: "/a", INFERENCE_URL: "http://gpu:8080", INFERENCE_PROTOCOL: "openai", HF_ENDPOINT: "http://hub.local",
      HF_TOKEN: "hf_x", CHROME_PATH: "/usr/bin/chromium",
    });
    expect(inferenceUrl(env)).toBe("http://gpu:8080");
  });

  it("treats empty values as unset", () => {
    const env = parseEnv({ DATABASE_URL: "", INFERENCE_URL: " " });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.INFERENCE_URL).toBeUndefined();
  });

  it.each([
    [{ PORT: "abc" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ WORKER_PORT: "0" }, "WORKER_PORT"],
    [{ INFERENCE_PROTOCOL: "grpc" }, "INFERENCE_PROTOCOL"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL"],
    [{ INFERENCE_URL: "gpu:8080" }, "INFERENCE_URL"],
    [{ HF_ENDPOINT: "ftp://hub" }, "HF_ENDPOINT"],
  ])("rejects %o naming the field", (vars, field) => {
    let err: unknown;
    try {
      parseEnv(vars);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EnvError);
    expect((err as EnvError).issues.map((i) => i.field)).toEqual([field]);
    expect((err as EnvError).message).toContain(field);
  });
});
