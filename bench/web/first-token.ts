/**
 * The in-page half of a first-token measurement: a script (a string, so the bundler's helpers such
 * as tsx's __name do not leak into the page) for `page.evaluate` that clicks "Run" and resolves with
 * `{ click, dom }` (ms on the page's `performance.timeOrigin + performance.now()` clock) when the
 * pane first shows the new run's text.
 *
 * The pane clears (the queued run) and then gets the first token. React may commit both in one
 * render (the queued pane renders as a transition, and a fast first token lands before it), so a
 * text shorter than the previous run's also counts as the new run's. It rejects after `timeoutMs`
 * instead of waiting for ever.
 */
export function clickRunUntilFirstToken(timeoutMs = 60_000): string {
  return `new Promise((resolve, reject) => {
    const pane = document.querySelector('[data-testid="output-pane"]');
    const text = () => pane.querySelector('[data-testid="raw-output"]')?.textContent ?? "";
    const before = text().length;
    let cleared = before === 0;
    const timer = setTimeout(() => { obs.disconnect(); reject(new Error("no first token within ${timeoutMs} ms of the click")); }, ${timeoutMs});
    const obs = new MutationObserver(() => {
      const t = text();
      if (t === "") cleared = true;
      else if (cleared || t.length < before) {
        obs.disconnect();
        clearTimeout(timer);
        resolve({ click: t0, dom: performance.timeOrigin + performance.now() });
      }
    });
    obs.observe(pane, { subtree: true, childList: true, characterData: true });
    const t0 = performance.timeOrigin + performance.now();
    document.querySelector('[data-testid="run"]').click();
  })`;
}
