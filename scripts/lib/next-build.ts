/**
 * Is the production build in .next older than the web sources? `npm start` and the browser tests
 * build only then (a build takes minutes on 2 cores).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** What the Next build depends on. */
const SOURCES = ["app", "components", "server", "trpc", "db/schema", "db/client.ts", "db/migrate.ts", "db/seed.ts", "proxy.ts", "instrumentation.ts", "next.config.ts", "postcss.config.mjs", "tsconfig.json", "package-lock.json"];

function newestMtime(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, entry)));
  return newest;
}

export function buildIsStale(root: string): { stale: boolean; reason: string } {
  const buildId = path.join(root, ".next", "BUILD_ID");
  if (!fs.existsSync(buildId)) return { stale: true, reason: "no build yet" };
  const builtAt = fs.statSync(buildId).mtimeMs;
  for (const s of SOURCES) {
    if (newestMtime(path.join(root, s)) > builtAt) return { stale: true, reason: `${s} changed since the last build` };
  }
  return { stale: false, reason: "build is up to date" };
}

/** Runs `next build` when needed; throws when it fails. */
export function buildIfStale(root: string, log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): boolean {
  const { stale, reason } = buildIsStale(root);
  if (!stale) return false;
  log(`[build] next build (${reason})…`);
  const res = spawnSync(process.execPath, [path.join(root, "node_modules/next/dist/bin/next"), "build"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
  });
  if (res.status !== 0) throw new Error(`next build failed (exit ${res.status ?? res.signal})`);
  return true;
}
