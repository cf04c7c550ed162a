/**
 * What a page does to a visitor, in Chromium against the production server: every page carries a
 * Content-Security-Policy with a nonce and `frame-ancestors 'none'` and loads with zero console
 * errors under it; an `autorun=1` link asks before it runs anything.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { browserAvailable, launchBrowser, startWebServer, type WebServer } from "./browser";

const PAGES = ["/", "/adapters/sql", "/adapters/sql/eval", "/adapters/conllpp", "/playground", "/compare", "/chats", "/status", "/adapters/new", "/admin", "/train"];

describe.runIf(browserAvailable())("page safety, in Chromium", () => {
  let server: WebServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startWebServer({ worker: "none" });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("every page has a nonce CSP that forbids framing, and loads with zero console errors", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      // the worker is offline on purpose here: its banner's failed fetches are not what we look for
      if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400) errors.push(`${page.url()}: ${r.status()} ${r.url()}`);
    });
    for (const p of PAGES) {
      const res = await page.goto(`${server.url}${p}`, { waitUntil: "load", timeout: 120_000 }).catch((e: Error) => {
        throw new Error(`${p}: ${e.message}\n${server.output().slice(-2000)}`);
      });
      // hydrated: React has attached (a CSP-blocked chunk would leave the page inert and log an error)
      await page.waitForFunction(() => !!document.querySelector("header a[href='/']") && "__next_f" in window);
      await page.waitForTimeout(500);
      expect(res!.status(), p).toBe(200);
      const csp = res!.headers()["content-security-policy"] ?? "";
      expect(csp, p).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
      expect(csp, p).toContain("frame-ancestors 'none'");
      // the theme script ran (it is inline: only its nonce lets it)
      expect(await page.evaluate(() => document.querySelectorAll("script[nonce]").length), p).toBeGreaterThan(0);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it("an autorun=1 link asks first: nothing starts until the visitor clicks", async () => {
    const page = await browser.newPage();
    const starts: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("generate.start")) starts.push(r.url());
    });
    await page.goto(`${server.url}/playground?adapter=base&mode=raw&prompt=Hello&autorun=1`);
    await page.getByTestId("autorun-confirm").waitFor();
    await page.waitForTimeout(1000);
    expect(starts).toEqual([]);
    await page.getByTestId("autorun-dismiss").click();
    await expect(page.getByTestId("autorun-confirm").count()).resolves.toBe(0);
    expect(starts).toEqual([]);

    await page.goto(`${server.url}/compare?adapters=base,spam&mode=raw&prompt=Hello&autorun=1`);
    await page.getByTestId("autorun-confirm").waitFor();
    await page.waitForTimeout(1000);
    expect(starts).toEqual([]);
    await page.getByTestId("autorun-run").click();
    await expect.poll(() => starts.length).toBe(1);
    await page.close();
  });
});
