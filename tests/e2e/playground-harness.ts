/**
 * What the playground/compare/share/history browser tests share: the worker they stream from and
 * a few page helpers.
 *
 * The worker is the REAL one (`inference/cli/main.ts serve` on the bundled demo model) whenever the
 * project has it; until the worker command exists the tests run against the LoRAX-protocol
 * stand-in (bench/web/fake-worker.ts) and say so loudly. Either way the tests compare what the
 * browser shows with what the same worker answers to a plain `/generate` for the same greedy
 * request, so they check the web path, not the model's words.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { freePort, ROOT } from "./browser";

export interface TestWorker {
  url: string;
  real: boolean;
  stop(): Promise<void>;
}

export function realWorkerAvailable(): boolean {
  return fs.existsSync(path.join(ROOT, "inference/cli/serve.ts"));
}

export async function startTestWorker(opts: { delayMs?: number; fake?: boolean } = {}): Promise<TestWorker> {
  if (opts.fake || !realWorkerAvailable()) {
    if (!opts.fake) process.stderr.write("\n!!!!! inference/cli/serve.ts is missing: e2e tests stream from the LoRAX-protocol stand-in, NOT the real worker !!!!!\n\n");
    // its own process, like a real worker: its work does not land on the test's event loop
    const port = await freePort();
    return spawnWorker(
      [path.join(ROOT, "bench/web/fake-worker.ts"), "--port", String(port), "--delay-ms", String(opts.delayMs ?? 30)],
      port,
      false,
    );
  }
  const port = await freePort();
  return spawnWorker(
    [path.join(ROOT, "inference/cli/main.ts"), "serve", "--port", String(port), "--model", path.join(ROOT, "data/demo/base"), "--adapters", path.join(ROOT, "data/demo/adapters")],
    port,
    true,
  );
}

async function spawnWorker(script: string[], port: number, real: boolean): Promise<TestWorker> {
  const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), ...script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, 5000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}):\n${out}`);
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`worker not healthy in 120 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { url, real, stop };
}

/** The worker's own answer (LoRAX /generate, greedy) for a prompt: what the page must end up showing. */
export async function workerAnswer(url: string, prompt: string, adapterId: string | null, maxNewTokens: number, real = realWorkerAvailable(), ignoreEos = false): Promise<string> {
  if (!real) {
    const { fakeTokens } = await import("../../bench/web/fake-worker");
    return fakeTokens(adapterId, maxNewTokens).join("");
  }
  const res = await fetch(`${url}/generate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ inputs: prompt, parameters: { adapter_id: adapterId ?? undefined, max_new_tokens: maxNewTokens, ignore_eos_token: ignoreEos || undefined } }),
  });
  if (!res.ok) throw new Error(`worker /generate ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { generated_text: string }).generated_text;
}

/**
 * Records every text the pane's raw output shows while streaming (a MutationObserver in the page),
 * so a test can check that each is a prefix of the next: tokens arrive in order, none lost.
 */
export async function recordOutput(page: Page, paneSelector: string, index = 0): Promise<void> {
  await page.evaluate(
    ([sel, i]) => {
      const w = window as unknown as { __snapshots?: Record<number, string[]> };
      w.__snapshots ??= {};
      const snaps: string[] = (w.__snapshots[i as number] = []);
      const pane = document.querySelectorAll(sel as string)[i as number]!;
      const obs = new MutationObserver(() => {
        const t = pane.querySelector('[data-testid="raw-output"]')?.textContent ?? "";
        if (snaps.at(-1) !== t) snaps.push(t);
      });
      obs.observe(pane, { subtree: true, childList: true, characterData: true });
    },
    [paneSelector, index] as const,
  );
}

export async function snapshots(page: Page, index = 0): Promise<string[]> {
  return page.evaluate((i) => (window as unknown as { __snapshots: Record<number, string[]> }).__snapshots[i] ?? [], index);
}

export function screenshotDir(): string {
  const dir = path.join(ROOT, "test-results/e2e");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
