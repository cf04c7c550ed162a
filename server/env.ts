/**
 * The one place that reads process.env: every setting of the web app, the start script and the
 * tests, validated with zod. Import `env` (parsed once) or call `parseEnv` on another record.
 */
import path from "node:path";
import { z } from "zod";

const ROOT = process.cwd();

const port = (fallback: number) =>
  z.coerce
    .number({ error: "must be a number" })
    .int("must be an integer")
    .min(1, "must be between 1 and 65535")
    .max(65535, "must be between 1 and 65535")
    .default(fallback);

/** How long a worker stream may send nothing before its generation ends with an error (seconds). */
export const DEFAULT_WORKER_IDLE_TIMEOUT_S = 60;

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const optionalUrl = (what: string) =>
  optionalString.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), {
    message: `must be an http(s) URL (${what})`,
  });

export const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** web server port */
  PORT: port(3000),
  /** built-in inference worker port (ignored when INFERENCE_URL is set) */
  WORKER_PORT: port(8081),
  /** PGlite data, caches, uploaded adapters */
  DATA_DIR: z.string().default(".data").transform((v) => path.resolve(/*turbopackIgnore: true*/ ROOT, v)),
  /** a Postgres server; unset → embedded PGlite under DATA_DIR/pglite */
  DATABASE_URL: optionalString.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: "must be a postgres:// or postgresql:// URL",
  }),
  /** base model directory served by the built-in worker */
  MODEL_DIR: z.string().default("data/demo/base").transform((v) => path.resolve(/*turbopackIgnore: true*/ ROOT, v)),
  /** folder of PEFT adapter folders served by the built-in worker */
  ADAPTERS_DIR: z.string().default("data/demo/adapters").transform((v) => path.resolve(/*turbopackIgnore: true*/ ROOT, v)),
  /** an external worker (LoRAX, vLLM, or the built-in one run elsewhere); unset → start our own */
  INFERENCE_URL: optionalUrl("INFERENCE_URL").transform((v) => v?.replace(/\/+$/, "")),
  /** the worker's address as people reach it (the "Use via API" snippets show it); unset → the address above, with a note */
  PUBLIC_INFERENCE_URL: optionalUrl("PUBLIC_INFERENCE_URL").transform((v) => v?.replace(/\/+$/, "")),
  INFERENCE_PROTOCOL: z.enum(["lorax", "openai"], { error: "must be lorax or openai" }).default("lorax"),
  /**
   * a worker stream that sends no byte for this many seconds (our worker pings every 15 s) ends
   * with an error, and its row is marked so, instead of waiting forever
   */
  WORKER_IDLE_TIMEOUT_S: z.coerce
    .number({ error: "must be a number of seconds" })
    .gt(0, "must be more than 0 seconds")
    .max(3600, "must be at most 3600 seconds")
    .default(DEFAULT_WORKER_IDLE_TIMEOUT_S),
  HF_ENDPOINT: optionalUrl("HF_ENDPOINT"),
  HF_TOKEN: optionalString,
  /**
   * where the web server listens: unset → loopback only (127.0.0.1 and ::1); `0.0.0.0` or `::`
   * for every interface, or one address. Anything but loopback needs ADMIN_TOKEN.
   */
  HOST: optionalString,
  /** the admin right (shared state: adapters, eval figures), shown once in the UI or sent as `Authorization: Bearer` */
  ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, { message: "must be at least 16 characters" }),
  /** 1: the server is behind a reverse proxy, so per-address limits use the last X-Forwarded-For entry */
  TRUST_PROXY: z
    .enum(["0", "1", "true", "false", ""], { error: "must be 1 or 0" })
    .default("0")
    .transform((v) => v === "1" || v === "true"),
  /** Chromium for the browser tests */
  CHROME_PATH: optionalString,
});

export type Env = z.infer<typeof envSchema>;

export class EnvError extends Error {
  constructor(public readonly issues: { field: string; message: string }[]) {
    super(`invalid environment: ${issues.map((i) => `${i.field} ${i.message}`).join("; ")}`);
    this.name = "EnvError";
  }
}

/** Validate a record of variables; throws EnvError naming each bad field. */
export function parseEnv(vars: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(vars);
  if (!result.success) {
    throw new EnvError(result.error.issues.map((i) => ({ field: String(i.path[0] ?? "?"), message: i.message })));
  }
  return result.data;
}

/** The URL the web app talks to: INFERENCE_URL, or the built-in worker on WORKER_PORT. */
export function inferenceUrl(e: Env): string {
  return e.INFERENCE_URL ?? `http://127.0.0.1:${e.WORKER_PORT}`;
}

/** Loopback names and addresses (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/** The addresses the web server binds: HOST, or both loopback addresses. */
export function listenHosts(e: Pick<Env, "HOST">): string[] {
  if (!e.HOST || e.HOST.toLowerCase() === "localhost") return ["127.0.0.1", "::1"];
  return [e.HOST];
}

/** Why this configuration must not start (a reachable server where anyone would be admin), or null. */
export function exposureError(e: Pick<Env, "HOST" | "ADMIN_TOKEN">): string | null {
  if (listenHosts(e).every(isLoopbackHost) || e.ADMIN_TOKEN) return null;
  return `HOST=${e.HOST} makes the web server reachable from other machines, but ADMIN_TOKEN is not set: set ADMIN_TOKEN (16+ characters; it grants the admin right over shared adapters and eval figures), or leave HOST unset to listen on loopback only`;
}

let cached: Env | undefined;
/** Parsed once per process, on first use (so importing this module never throws at build time). */
export function getEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}
