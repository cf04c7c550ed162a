/**
 * JSON and SQL answers (issue 14 item 12): the card decides the kind, JSON validity is checked
 * on the final text only, the highlighter pretty-prints and escapes, and a streaming answer is
 * shown as plain text (no highlighting per token).
 */
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { StreamView } from "../../components/playground/StreamView";
import { checkJson, outputKindOf } from "../../components/playground/output-format";
import { highlight, prettyPrint } from "../../components/playground/highlight";

describe("output kind from the task card", () => {
  it("reads expected_output_format (any case) and the json_match metric", () => {
    expect(outputKindOf({ expectedOutputFormat: "json", metricName: "rouge" })).toBe("json");
    expect(outputKindOf({ expectedOutputFormat: "text", metricName: "json_match" })).toBe("json");
    expect(outputKindOf({ expectedOutputFormat: "SQL", metricName: "exact_match" })).toBe("sql");
    expect(outputKindOf({ expectedOutputFormat: "number", metricName: "accuracy" })).toBe("text");
    expect(outputKindOf({ expectedOutputFormat: null })).toBe("text");
    expect(outputKindOf(null)).toBe("text");
  });
});

describe("checkJson", () => {
  it("accepts one JSON value with surrounding whitespace, and says why not otherwise", () => {
    expect(checkJson(' {"person": ["Anna"]} \n')).toEqual({ valid: true, value: { person: ["Anna"] } });
    const bad = checkJson('{"person": ["Anna"]');
    expect(bad.valid).toBe(false);
    expect(bad.valid === false && bad.error.length).toBeGreaterThan(0);
    expect(checkJson("   ")).toEqual({ valid: false, error: "the answer is empty" });
  });
});

describe("highlight", () => {
  it("pretty-prints JSON and escapes what the model wrote", async () => {
    const h = await highlight("json", '{"person":["<img src=x onerror=alert(1)>"],"n":3}');
    expect(h.pretty).toBe('{\n  "person": [\n    "<img src=x onerror=alert(1)>"\n  ],\n  "n": 3\n}');
    expect(h.html).not.toMatch(/<img/);
    expect(h.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(h.html).toMatch(/<span class="hljs-attr">&quot;person&quot;<\/span>/);
    expect(h.html).toMatch(/<span class="hljs-number">3<\/span>/);
  });
  it("pretty-prints SQL one clause a line, highlighting keywords", async () => {
    const h = await highlight("sql", "SELECT COUNT(*) FROM players WHERE goals > 9");
    expect(h.pretty).toBe("SELECT\n  COUNT(*)\nFROM\n  players\nWHERE\n  goals > 9");
    expect(h.html).toMatch(/<span class="hljs-keyword">SELECT<\/span>/);
  });
  it("shows an answer it cannot parse as it came", async () => {
    expect(await prettyPrint("json", '{"a": ')).toBe('{"a": ');
    expect(await prettyPrint("sql", "SELECT (( FROM")).toBe("SELECT (( FROM");
  });
});

describe("StreamView code answers", () => {
  const render = (text: string, kind: "json" | "sql" | "text", streaming: boolean) =>
    renderToStaticMarkup(<StreamView text={text} tokens={[]} showTokens={false} streaming={streaming} kind={kind} />);
  it("says valid JSON ✓ or ✗ once the answer is final, not while it streams", () => {
    expect(render('{"a": [1]}', "json", false)).toMatch(/data-valid="true"[^>]*>Valid JSON ✓/);
    expect(render('{"a": [1', "json", false)).toMatch(/data-valid="false"[^>]*>Not valid JSON ✗/);
    const live = render('{"a": [1', "json", true);
    expect(live).not.toContain("json-validity");
    expect(live).not.toContain("hljs");
    expect(live).toContain("{&quot;a&quot;: [1</pre>");
  });
  it("keeps Markdown for text answers and the exact text for copy", () => {
    const html = render("**bold**", "text", false);
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain('data-testid="raw-output" hidden="">**bold**</pre>');
  });
});
