/** The arena's word diff: words only in A are struck out, words only in B inserted, the rest plain. */
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { WordDiff } from "../../components/arena/WordDiff";

describe("WordDiff", () => {
  it("marks the words that differ and keeps the ones that match", () => {
    const html = renderToStaticMarkup(<WordDiff a="SELECT COUNT(*) FROM players WHERE goals > 9" b="SELECT MAX(goals) FROM players" />);
    const removed = [...html.matchAll(/<del data-testid="diff-removed"[^>]*>([^<]*)<\/del>/g)].map((m) => m[1]);
    const added = [...html.matchAll(/<ins data-testid="diff-added"[^>]*>([^<]*)<\/ins>/g)].map((m) => m[1]);
    expect(removed).toEqual(["COUNT", "*", " WHERE goals &gt; 9"]);
    expect(added).toEqual(["MAX", "goals"]);
    expect(html).toContain("<span>SELECT </span>");
  });
  it("says when both answers are the same", () => {
    const html = renderToStaticMarkup(<WordDiff a="same words" b="same words" />);
    expect(html).toContain("Both answers are the same, word for word.");
    expect(html).not.toContain("diff-added");
  });
});
