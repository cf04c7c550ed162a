/**
 * `npm start`: the whole product on one machine.
 * 1. build the web app if its sources changed;  2. migrate + seed the database;
 * 3. start the inference worker (unless INFERENCE_URL points at one) and the web server;
 * 4. supervise both (a crashed process is restarted with backoff; the UI shows the worker offline
 *    meanwhile); Ctrl-C / SIGTERM stops both.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { openDb, pgliteDirFor } from "../db/client";
import { prepareDb } from "../db/migrate";
import { EnvError, exposureError, getEnv, inferenceUrl, listenHosts } from "../server/env";
import { ensureIngestSecret } from "../server/eval/ingest-secret";
import { buildIfStale } from "./lib/next-build";
import { Supervised } from "./lib/supervisor";

const ROOT = process.cwd();
const BUNDLED_MODEL_DIR = path.join(ROOT, "data/demo/base");
const log = (line: string) => process.stderr.write(`${line}\n`);

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

async function main(): Promise<number> {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  let env;
  try {
    env = getEnv();
  } catch (err) {
    if (err instanceof EnvError) {
      log(err.message);
      return 2;
    }
    throw err;
  }
  const exposure = exposureError(env);
  if (exposure) {
    log(`[start] ${exposure}`);
    return 2;
  }

  // a port in use would only show up as a server crashing in a loop: say it now
  const ports: [string, number][] = [["PORT", env.PORT]];
  if (!env.INFERENCE_URL) ports.push(["WORKER_PORT", env.WORKER_PORT]);
  for (const [name, port] of ports) {
    if (!(await portIsFree(port))) {
      log(`[start] ${name} ${port} is already in use (another instance?): choose another one, e.g. ${name}=${port + 1}`);
      return 2;
    }
  }

  buildIfStale(ROOT, log);

  fs.mkdirSync(env.DATA_DIR, { recursive: true });
  // the secret `npm run eval` shows when it hands results to this server
  ensureIngestSecret(env.DATA_DIR);
  const db = await openDb({ databaseUrl: env.DATABASE_URL, pgliteDir: pgliteDirFor(env.DATA_DIR), max: 1 });
  try {
    await prepareDb(db, ROOT);
  } finally {
    await db.close(); // PGlite admits one process: the web server opens it next
  }
  log(`[db] migrated and seeded (${db.driver}${env.DATABASE_URL ? "" : ` at ${pgliteDirFor(env.DATA_DIR)}`})`);

  const children: Supervised[] = [];
  const childEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

  if (env.INFERENCE_URL) {
    log(`[worker] using ${env.INFERENCE_URL} (${env.INFERENCE_PROTOCOL})`);
  } else if (!fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"))) {
    log("[worker] inference/cli/serve.ts is missing: running without a worker (the UI shows it offline)");
  } else {
    // MODEL_REPO (a Hub repo id, owner/name[@rev]) instead of MODEL_DIR: the worker downloads it
    // into DATA_DIR/models once (HF_ENDPOINT, HF_TOKEN) and serves it under the repo id
    const model = process.env.MODEL_REPO?.trim() || env.MODEL_DIR;
    // `node --import tsx`: one process (the tsx CLI would put a wrapper process in between)
    const args = [
      "--import",
      "tsx",
      path.join(ROOT, "inference/cli/main.ts"),
      "serve",
      "--port", String(env.WORKER_PORT),
      "--model", model,
      "--adapters", env.ADAPTERS_DIR,
      ...(model === env.MODEL_DIR && path.resolve(env.MODEL_DIR) === BUNDLED_MODEL_DIR ? ["--model-id", "loraland-mini"] : []),
    ];
    const worker = new Supervised({ name: "worker", command: process.execPath, args, env: childEnv, cwd: ROOT, log });
    worker.start();
    children.push(worker);
    log(`[worker] starting on ${inferenceUrl(env)} with ${model === env.MODEL_DIR ? path.relative(ROOT, env.MODEL_DIR) || env.MODEL_DIR : `${model} from the Hub (downloaded into DATA_DIR/models on first start)`}`);
  }

  const web = new Supervised({
    name: "web",
    command: process.execPath,
    // our listener around Next's handler: loopback by default, HOST otherwise (scripts/lib/web-server.mjs)
    args: [path.join(ROOT, "scripts/lib/web-server.mjs")],
    env: { ...childEnv, NODE_ENV: "production" },
    cwd: ROOT,
    log,
  });
  web.start();
  children.push(web);
  const hosts = listenHosts(env);
  log(`[web] http://${hosts.length > 1 ? "localhost" : hosts[0]!.includes(":") ? `[${hosts[0]}]` : hosts[0]}:${env.PORT}`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log(`[start] ${signal}: stopping…`);
      void Promise.all(children.map((c) => c.stop())).then(() => resolve(0));
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`[start] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
