import { describe, expect, it } from "vitest";
import { StopMatcher } from "../../inference/engine/stop";

function run(stops: string[], pieces: string[]) {
  const m = new StopMatcher(stops);
  const out: string[] = [];
  let stoppedAt = -1;
  pieces.forEach((p, i) => {
    const r = m.push(p);
    out.push(r.emit);
    if (r.stopped && stoppedAt < 0) stoppedAt = i;
  });
  if (stoppedAt < 0) out.push(m.flush());
  return { out, stoppedAt, text: out.join("") };
}

describe("StopMatcher", () => {
  it("matches a stop sequence split across pieces and truncates before it", () => {
    const r = run(["\n\n"], ["Hello", " world\n", "\nmore"]);
    expect(r.stoppedAt).toBe(2);
    expect(r.text).toBe("Hello world");
    // the "\n" that could start the stop was held back, not emitted early
    expect(r.out[1]).toBe(" world");
  });

  it("releases held text when the prefix turns out not to be a stop", () => {
    const r = run(["END"], ["abc E", "N", "d more"]);
    expect(r.stoppedAt).toBe(-1);
    expect(r.out).toEqual(["abc ", "", "ENd more", ""]);
    expect(r.text).toBe("abc ENd more");
  });

  it("earliest stop wins among several; text after it is dropped", () => {
    const r = run(["world", "lo w"], ["Hel", "lo wor", "ld"]);
    expect(r.text).toBe("Hel");
    expect(r.stoppedAt).toBe(1);
  });

  it("a stop inside one piece, and flush at the end returns held text", () => {
    expect(run(["</answer>"], ["42</answer>tail"]).text).toBe("42");
    const m = new StopMatcher(["xyz"]);
    expect(m.push("abx").emit).toBe("ab");
    expect(m.flush()).toBe("x");
  });

  it("no stops: passes everything through", () => {
    const m = new StopMatcher([]);
    expect(m.active).toBe(false);
    expect(m.push("a\n\n").emit).toBe("a\n\n");
  });
});

describe("StopMatcher, inclusive (LoRAX/TGI)", () => {
  it("emits every piece as it comes and stops on the piece that completes a stop, across pieces", () => {
    const m = new StopMatcher(["\n\n"], { inclusive: true });
    expect(m.push("Hello")).toEqual({ emit: "Hello", stopped: false });
    expect(m.push(" world\n")).toEqual({ emit: " world\n", stopped: false });
    expect(m.push("\nmore")).toEqual({ emit: "\nmore", stopped: true });
    expect(m.flush()).toBe("");
  });

  it("a stop inside one piece; a prefix that is not a stop holds nothing back", () => {
    const m = new StopMatcher(["END"], { inclusive: true });
    expect(m.push("abc E").emit).toBe("abc E");
    expect(m.push("Nd").stopped).toBe(false);
    expect(m.push("xxENDyy")).toEqual({ emit: "xxENDyy", stopped: true });
  });
});
