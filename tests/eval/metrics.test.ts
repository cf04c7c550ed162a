import { describe, expect, it } from "vitest";
import { exactMatch, jsonMatch, lcsLength, MAX_NEW_TOKENS, mean, rougeL, score } from "../../server/eval/metrics";

describe("exact match / accuracy", () => {
  it("compares stripped strings", () => {
    expect(exactMatch(" spam\n", "spam")).toBe(1);
    expect(exactMatch("Spam", "spam")).toBe(0);
    expect(exactMatch("spam ham", "spam")).toBe(0);
    expect(exactMatch("", "")).toBe(1);
    expect(score("accuracy", "ham ", " ham")).toBe(1);
    expect(score("exact_match", "SELECT 1", "SELECT  1")).toBe(0);
  });
});

describe("ROUGE-L F1 (hand-worked)", () => {
  it("LCS length", () => {
    expect(lcsLength(["a", "b", "c", "d"], ["a", "c", "d", "b"])).toBe(3);
    expect(lcsLength([], ["a"])).toBe(0);
  });
  it("one word differs: P = R = 5/6", () => {
    expect(rougeL("the cat sat on the mat", "the cat is on the mat")).toBeCloseTo(5 / 6, 12);
  });
  it("different lengths: LCS 2 of 3 and 4 -> F1 = 4/7", () => {
    expect(rougeL("A B C", "a x c y")).toBeCloseTo(4 / 7, 12);
  });
  it("order matters: 'police killed the gunman' vs 'the gunman kill police' -> 0.5", () => {
    expect(rougeL("police killed the gunman", "the gunman kill police")).toBeCloseTo(0.5, 12);
  });
  it("is case-insensitive and splits on any whitespace", () => {
    expect(rougeL("The\tCat\n sat", "the cat sat")).toBe(1);
  });
  it("punctuation stays part of a token", () => {
    // "mat." != "mat": LCS 2 of 3 and 3
    expect(rougeL("the mat.", "the mat")).toBeCloseTo(0.5, 12);
  });
  it("is 0 when either side is empty or nothing is shared", () => {
    expect(rougeL("", "a b")).toBe(0);
    expect(rougeL("a b", "   ")).toBe(0);
    expect(rougeL("", "")).toBe(0);
    expect(rougeL("x y", "a b")).toBe(0);
  });
});

describe("JSON match (the demo's NER rule)", () => {
  const ref = '{"person": ["Aldo Moore"], "organization": ["Harbor Logistics", "Silver Bank"], "location": []}';
  it("exact and reordered lists match", () => {
    expect(jsonMatch(ref, ref)).toBe(1);
    expect(jsonMatch('{"organization": ["Silver Bank", "Harbor Logistics"], "person": ["Aldo Moore"], "location": []}', ref)).toBe(1);
    expect(jsonMatch(`  ${ref}\n`, ref)).toBe(1);
  });
  it("a missing key counts as an empty list", () => {
    expect(jsonMatch('{"person": ["Aldo Moore"], "organization": ["Silver Bank", "Harbor Logistics"]}', ref)).toBe(1);
    expect(jsonMatch('{"person": ["Aldo Moore"]}', ref)).toBe(0); // organization is not empty
  });
  it("extra keys fail", () => {
    expect(jsonMatch('{"person": ["Aldo Moore"], "organization": ["Harbor Logistics", "Silver Bank"], "location": [], "date": []}', ref)).toBe(0);
  });
  it("different list contents fail (missing, extra, duplicate, changed case)", () => {
    expect(jsonMatch('{"person": [], "organization": ["Harbor Logistics", "Silver Bank"]}', ref)).toBe(0);
    expect(jsonMatch('{"person": ["Aldo Moore", "Iowa"], "organization": ["Harbor Logistics", "Silver Bank"]}', ref)).toBe(0);
    expect(jsonMatch('{"person": ["Aldo Moore", "Aldo Moore"], "organization": ["Harbor Logistics", "Silver Bank"]}', ref)).toBe(0);
    expect(jsonMatch('{"person": ["aldo moore"], "organization": ["Harbor Logistics", "Silver Bank"]}', ref)).toBe(0);
  });
  it("a value that is not a list fails", () => {
    expect(jsonMatch('{"person": "Aldo Moore", "organization": ["Harbor Logistics", "Silver Bank"]}', ref)).toBe(0);
    expect(jsonMatch('{"person": ["Aldo Moore"], "organization": ["Harbor Logistics", "Silver Bank"], "location": null}', ref)).toBe(0);
  });
  it("non-object JSON, invalid JSON and empty strings fail", () => {
    expect(jsonMatch('["Aldo Moore"]', ref)).toBe(0);
    expect(jsonMatch('"text"', ref)).toBe(0);
    expect(jsonMatch("null", ref)).toBe(0);
    expect(jsonMatch("42", ref)).toBe(0);
    expect(jsonMatch('{"person": ["Aldo Moore"], "organization": ["Harbor Logistics"', ref)).toBe(0); // truncated
    expect(jsonMatch("{'person': ['Aldo Moore']}", ref)).toBe(0); // Python repr, not JSON
    expect(jsonMatch("", ref)).toBe(0);
    expect(jsonMatch(ref, "")).toBe(0);
    expect(jsonMatch("", "")).toBe(0);
  });
  it("an all-empty reference is matched by {}", () => {
    expect(jsonMatch("{}", '{"person": [], "organization": [], "location": []}')).toBe(1);
    expect(score("json_match", "{}", '{"person": ["A"]}')).toBe(0);
  });
});

describe("budgets and means", () => {
  it("max new tokens by metric", () => {
    expect(MAX_NEW_TOKENS).toEqual({ accuracy: 4, exact_match: 40, rouge_l: 48, json_match: 80 });
  });
  it("mean", () => {
    expect(mean([1, 0, 0.5, 0.5])).toBe(0.5);
    expect(mean([])).toBe(0);
  });
});
