/**
 * Conversations (issue 14 item 10) in Chromium against the production server and the real worker:
 * Regenerate keeps versions (‹ 1/3 ›) and the reruns of one prompt are one history chat whose
 * turns are grouped as versions; the chat is titled by the user's input, not the template's
 * instruction; rename, delete and "clear all" from the history list; the history drawer on a phone;
 * Chat mode's system prompt on a model with Mistral's [INST] template; a shared link shows the reruns
 * as versions of one turn.
 * Screenshots (desktop and a 390 px phone, light and dark) go to /tmp/h11.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnRealWorker, type RunningWorker } from "../web/generate-worker-process";
import { browserAvailable, launchBrowser, ROOT, startWebServer, trackApiRequests, type WebServer } from "./browser";
import { realWorkerAvailable } from "./playground-harness";
import { useWorkerWebBrowser } from "./worker-web-browser";

const SHOTS = "/tmp/h11";
const REVIEW = "The plot dragged, but the acting was superb.";

describe.runIf(browserAvailable())("conversations in Chromium", () => {
  const h = useWorkerWebBrowser({ env: process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : undefined });
  beforeAll(() => {
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  const shownText = async (page: Page) => (await page.getByTestId("output-pane").getByTestId("raw-output").textContent()) ?? "";
  // the page's API calls: a pane that never ends says which call it waits on (CI once saw one stay queued)
  let requests = () => "";
  const done = async (page: Page) => {
    const pane = page.getByTestId("output-pane");
    try {
      await expect.poll(() => pane.getAttribute("aria-label"), { timeout: 120_000 }).toMatch(/(done|error|stopped)$/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\npage's API requests:\n${requests()}\nweb server:\n${h.web.output().slice(-3000)}`, { cause: e });
    }
    expect(await pane.getAttribute("aria-label")).toMatch(/done$/);
    return shownText(page);
  };

  it("Regenerate keeps versions, grouped as one chat titled by the input; history rename/delete/clear; phone drawer", { timeout: 400_000 }, async () => {
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    requests = trackApiRequests(page);
    page.on("dialog", (d) => void d.accept());
    // sampling on, a few tokens: versions may differ
    await page.goto(`${h.web.url}/playground?adapter=sentiment&in.review=${encodeURIComponent(REVIEW)}&p.max_new_tokens=6&p.temperature=1`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.getByTestId("run").click();
    const texts = [await done(page)];
    expect(await page.getByTestId("versions").count()).toBe(0);
    for (const n of [2, 3]) {
      await page.getByTestId("retry").click();
      texts.push(await done(page));
      await expect.poll(() => page.getByTestId("version-count").textContent()).toBe(`${n}/${n}`);
    }
    await page.getByTestId("version-prev").click();
    await expect(page.getByTestId("version-count").textContent()).resolves.toBe("2/3");
    await expect(shownText(page)).resolves.toBe(texts[1]);
    await page.getByTestId("version-prev").click();
    await expect(page.getByTestId("version-count").textContent()).resolves.toBe("1/3");
    await expect(shownText(page)).resolves.toBe(texts[0]);
    await expect(page.getByTestId("version-prev").isDisabled()).resolves.toBe(true);
    await page.screenshot({ path: path.join(SHOTS, "playground-versions-desktop-light.png") });

    // the shared link shows the reruns as versions of one turn too, newest first
    await page.click('[data-testid="share"]');
    const link = await page.getByTestId("share-url").inputValue();
    await page.keyboard.press("Escape");
    const shared = await context.newPage();
    await shared.goto(link);
    await shared.getByTestId("shared-view").waitFor();
    await expect(shared.getByTestId("shared-turn").count()).resolves.toBe(1);
    await expect(shared.getByTestId("version-count").textContent()).resolves.toBe("3/3");
    const sharedText = async () => (await shared.getByTestId("shared-pane").getByTestId("raw-output").textContent()) ?? "";
    await expect(sharedText()).resolves.toBe(texts[2]);
    await shared.getByTestId("version-prev").click();
    await expect(shared.getByTestId("version-count").textContent()).resolves.toBe("2/3");
    await expect(sharedText()).resolves.toBe(texts[1]);
    await shared.close();

    // one chat (the reruns joined it), titled by the review, with its three turns as versions
    await expect.poll(() => page.getByTestId("history-item").allTextContents(), { timeout: 20_000 }).toEqual([`▸${REVIEW}`]);
    await page.getByTestId("history-item").click();
    await page.getByTestId("chat-title").waitFor();
    await expect(page.getByTestId("chat-title").textContent()).resolves.toBe(REVIEW);
    await expect(page.getByTestId("chat-turn").count()).resolves.toBe(1);
    await expect(page.getByTestId("version-count").textContent()).resolves.toBe("3/3");
    await page.getByTestId("version-prev").click();
    await expect(page.getByTestId("version-count").textContent()).resolves.toBe("2/3");
    const href = await page.getByTestId("chat-edit-rerun").getAttribute("href");
    expect(href).toMatch(/^\/playground\?/);
    expect(new URLSearchParams(href!.split("?")[1]).get("in.review")).toBe(REVIEW);

    // a second chat (another prompt) starts over: no versions
    await page.goto(`${h.web.url}/playground?adapter=sentiment&in.review=Dull.&p.max_new_tokens=4`);
    await page.waitForSelector('[data-testid="run"]:not([disabled])');
    await page.getByTestId("run").click();
    await done(page);
    expect(await page.getByTestId("versions").count()).toBe(0);

    // the list: rename in place (an empty title cannot be saved), delete, clear all
    await page.goto(`${h.web.url}/chats`);
    const items = page.getByTestId("history-item");
    await expect.poll(() => items.count(), { timeout: 20_000 }).toBe(2);
    await page.getByTestId("history-item-rename").first().click();
    await page.getByTestId("history-rename-input").fill(" ");
    await expect(page.getByTestId("history-rename-save").isDisabled()).resolves.toBe(true);
    await page.getByTestId("history-rename-input").fill("Renamed from the list");
    await page.getByTestId("history-rename-save").click();
    await expect.poll(() => items.allTextContents()).toContain("▸Renamed from the list");
    for (const [label, opts] of [
      ["desktop-light", { viewport: { width: 1280, height: 900 }, colorScheme: "light" as const }],
      ["desktop-dark", { viewport: { width: 1280, height: 900 }, colorScheme: "dark" as const }],
      ["phone-light", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "light" as const }],
      ["phone-dark", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: "dark" as const }],
    ] as const) {
      const shot = await h.browser.newContext({ ...opts, storageState: { cookies: (await context.storageState()).cookies, origins: [] } });
      const p = await shot.newPage();
      await p.goto(`${h.web.url}/chats`);
      await p.getByTestId("history-item").first().waitFor();
      await p.screenshot({ path: path.join(SHOTS, `chats-${label}.png`), fullPage: true });
      await p.getByTestId("history-item").last().click();
      await p.getByTestId("chat-title").waitFor();
      if (label.startsWith("phone")) {
        // the sidebar column is hidden on a phone: the toggle opens it as a drawer
        await p.getByTestId("history-toggle").click();
        await p.getByTestId("history-drawer").getByTestId("history-item").first().waitFor();
        await p.screenshot({ path: path.join(SHOTS, `chat-drawer-${label}.png`) });
        await p.keyboard.press("Escape");
        await expect.poll(() => p.getByTestId("history-drawer").count()).toBe(0);
      } else expect(await p.getByTestId("history-toggle").isVisible()).toBe(false);
      await p.screenshot({ path: path.join(SHOTS, `chat-${label}.png`), fullPage: true });
      expect(await p.evaluate(() => document.documentElement.scrollWidth), label).toBeLessThanOrEqual(opts.viewport.width);
      await shot.close();
    }
    await page.getByTestId("history-item-delete").first().click();
    await expect.poll(() => items.count()).toBe(1);
    await page.getByTestId("history-clear").click();
    await page.getByTestId("history-empty").waitFor();
    await context.close();
  });
});

const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

describe.runIf(browserAvailable() && realWorkerAvailable())("chat mode's system prompt in Chromium (real worker, tiny-mistral copy with Mistral's [INST] template)", () => {
  let worker: RunningWorker;
  let web: WebServer;
  let browser: Browser;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loraland-chat-ui-"));
  beforeAll(async () => {
    fs.cpSync(path.join(ROOT, "tests/data/fixtures/tiny-mistral/base"), path.join(dir, "base"), { recursive: true });
    const cfgPath = path.join(dir, "base/tokenizer_config.json");
    fs.writeFileSync(cfgPath, JSON.stringify({ ...(JSON.parse(fs.readFileSync(cfgPath, "utf8")) as object), chat_template: MISTRAL_TEMPLATE }));
    worker = await spawnRealWorker(path.join(dir, "base"), path.join(ROOT, "tests/data/fixtures/tiny-mistral/adapters"));
    web = await startWebServer({ worker: { url: worker.url } });
    browser = await launchBrowser();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await web?.stop();
    await worker?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the system prompt goes with the first message, is folded as the [INST] template needs, and is fixed for the chat", { timeout: 300_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const starts: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("generate.start")) starts.push(r.postData() ?? "");
    });
    await page.goto(`${web.url}/playground?adapter=base&mode=chat&p.max_new_tokens=6&p.temperature=0`);
    await page.getByTestId("system-prompt").waitFor();
    await page.getByTestId("system-prompt").fill("Answer in one word.");
    await page.getByTestId("raw-prompt").fill("hello");
    await page.getByTestId("run").click();
    const pane = page.getByTestId("output-pane");
    await expect.poll(() => pane.getAttribute("aria-label"), { timeout: 120_000 }).toMatch(/(done|error)$/);
    expect(await pane.getAttribute("aria-label")).toMatch(/done$/);
    const expected = (await (await fetch(`${worker.url}/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: "[INST] Answer in one word.\n\nhello [/INST]", parameters: { max_new_tokens: 6 } }) })).json()) as { generated_text: string };
    await expect(pane.getByTestId("raw-output").textContent()).resolves.toBe(expected.generated_text);
    expect(starts.some((b) => b.includes('"system":"Answer in one word."'))).toBe(true);
    await expect(page.getByTestId("system-prompt").getAttribute("readonly")).resolves.not.toBeNull();
    await page.screenshot({ path: path.join(SHOTS, "playground-chat-system-desktop-light.png") });
    await page.close();
  });
});
