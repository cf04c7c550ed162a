/**
 * Saves README screenshots under docs/screenshots/ from a running instance:
 * `BASE_URL=http://localhost:3000 npx tsx scripts/screenshots.ts` (default: starts its own).
 */
import fs from "node:fs";
import path from "node:path";
import { launchBrowser, startWebServer } from "../tests/e2e/browser";

const OUT = path.join(process.cwd(), "docs/screenshots");
const PAGES: { name: string; path: string; dark?: boolean; width?: number; height?: number; full?: boolean }[] = [
  { name: "catalog", path: "/", full: false, height: 1600 },
  { name: "catalog-table", path: "/?view=table&sort=lift:-1" },
  { name: "adapter", path: "/adapters/ner", height: 1400 },
  { name: "adapter-loraland", path: "/adapters/conllpp", height: 1200 },
  { name: "status", path: "/status" },
  { name: "catalog-dark", path: "/", dark: true },
  { name: "catalog-phone", path: "/", width: 390, height: 844 },
  ...(process.env.SCREENSHOT_PAGES ?? "").split(",").filter(Boolean).map((p) => ({ name: p.replace(/\W+/g, "-").replace(/^-|-$/g, "") || "page", path: p })),
];

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = process.env.BASE_URL ? null : await startWebServer({ worker: process.env.WITH_WORKER ? "builtin" : "none" });
  const base = process.env.BASE_URL ?? server!.url;
  const browser = await launchBrowser();
  try {
    for (const p of PAGES) {
      const ctx = await browser.newContext({ viewport: { width: p.width ?? 1280, height: p.height ?? 900 }, colorScheme: p.dark ? "dark" : "light" });
      const page = await ctx.newPage();
      await page.goto(base + p.path, { waitUntil: "load" });
      await page.waitForTimeout(1500);
      if (p.path.includes("view=table")) await page.locator("#all-heading").evaluate((el) => el.scrollIntoView());
      const file = path.join(OUT, `${p.name}.png`);
      await page.screenshot({ path: file, fullPage: p.full ?? false });
      console.log(file);
      await ctx.close();
    }
  } finally {
    await browser.close();
    await server?.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
