/**
 * A short JSON preview of an untrusted value for an error message. JSON.stringify recurses, so a
 * 50k-deep array in a request field would throw RangeError (a 500) instead of the 422 it deserves:
 * this walks the value with an explicit stack, stops at `maxChars`, and shows nesting deeper than
 * `maxDepth` as `…`.
 */
export function jsonPreview(value: unknown, maxChars = 80, maxDepth = 8): string {
  let out = "";
  // work items: a value to print at a depth, or literal text
  const stack: ({ v: unknown; depth: number } | string)[] = [{ v: value, depth: 0 }];
  while (stack.length && out.length <= maxChars) {
    const item = stack.pop()!;
    if (typeof item === "string") {
      out += item;
      continue;
    }
    const { v, depth } = item;
    if (v === null || typeof v !== "object") {
      out += v === undefined ? "undefined" : typeof v === "bigint" ? String(v) : (JSON.stringify(v) ?? String(v));
      continue;
    }
    if (depth >= maxDepth) {
      out += Array.isArray(v) ? "[…]" : "{…}";
      continue;
    }
    const entries: [string | null, unknown][] = Array.isArray(v) ? v.map((x) => [null, x]) : Object.entries(v as Record<string, unknown>);
    const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
    // push in reverse so they pop in order; only as many as could be shown
    const shown = entries.slice(0, maxChars);
    stack.push(close);
    for (let i = shown.length - 1; i >= 0; i--) {
      stack.push({ v: shown[i][1], depth: depth + 1 });
      if (shown[i][0] !== null) stack.push(`${JSON.stringify(shown[i][0])}:`);
      if (i > 0) stack.push(",");
    }
    out += open;
  }
  return out.length > maxChars ? `${out.slice(0, maxChars)}…` : out;
}
