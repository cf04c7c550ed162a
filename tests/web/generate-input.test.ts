/** A run's input is bounded in total, not just per field: the inputs object is stored with the chat. */
import { describe, expect, it } from "vitest";
import { LIMITS, startInput } from "../../server/routers/generate";

const base = { mode: "template" as const, adapters: [null], prompt: "p", params: { max_new_tokens: 4 } };

describe("generate.start input", () => {
  it("refuses inputs over the total size, naming the field and the limit", () => {
    // 300 columns of 30 000 characters each: every value fits alone, ~9 MB in all
    const huge = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`c${i}`, "x".repeat(30_000)]));
    const r = startInput.safeParse({ ...base, inputs: huge });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(["inputs"]);
    const many = startInput.safeParse({ ...base, inputs: { a: "x".repeat(20_000), b: "y".repeat(20_000) } });
    expect(many.success).toBe(false);
    expect(many.error!.issues.map((i) => i.message)).toContain(`inputs are longer than ${LIMITS.maxInputChars} characters in all`);
  });
  it("accepts ordinary inputs", () => {
    expect(startInput.safeParse({ ...base, inputs: { review: "great", title: "t" } }).success).toBe(true);
  });
});
