/** The status page's loading block shows what the worker reports in /info: stage and percentage. */
import { renderToStaticMarkup } from "react-dom/server";
import { expect, it } from "vitest";
import { LoadProgress } from "../../components/status/status-view";

const loading = (info: Record<string, unknown>) => renderToStaticMarkup(<LoadProgress s={{ ready: false, online: true, info }} />);

it("shows the download's and then the load's percentage with a determinate bar", () => {
  const dl = loading({ state: "loading", load_stage: "downloading", load_progress: 0.425, loading_for_ms: 12_000 });
  expect(dl).toContain("Downloading the model — 42%");
  expect(dl).toMatch(/<progress[^>]*value="0.425"/);
  const ld = loading({ state: "loading", load_stage: "loading", load_progress: 0.9 });
  expect(ld).toContain("Loading the model — 90%");
});

it("without a fraction the bar is indeterminate; a ready worker shows nothing", () => {
  const html = loading({ state: "loading", load_stage: "downloading", load_progress: null });
  expect(html).toContain("Downloading the model");
  expect(html).not.toContain("%");
  expect(html).not.toMatch(/value=/);
  expect(renderToStaticMarkup(<LoadProgress s={{ ready: true, online: true, info: { load_progress: 0.5 } }} />)).toBe("");
});
