import { describe, expect, it } from "vitest";
import { LimitExceededError, OwnerLimits } from "../../server/limits";

describe("per-owner limits", () => {
  it("caps concurrent streams per owner; releasing (once) frees a place", () => {
    const limits = new OwnerLimits({ maxConcurrentStreams: 3, requestsPerMinute: 100 });
    const two = limits.admit("a", 2);
    expect(limits.running("a")).toBe(2);
    const err = (() => {
      try {
        limits.admit("a", 2);
      } catch (e) {
        return e as LimitExceededError;
      }
    })();
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(err!.limit).toBe("concurrent_streams");
    expect(err!.message).toMatch(/at most 3/);
    // another owner is not affected
    limits.admit("b", 3);
    two[0]!.release();
    two[0]!.release(); // idempotent
    expect(limits.running("a")).toBe(1);
    limits.admit("a", 2);
    expect(limits.running("a")).toBe(3);
  });

  it("caps requests per sliding minute and says when to retry; a refused request is not counted", () => {
    let now = 1_000_000;
    const limits = new OwnerLimits({ maxConcurrentStreams: 100, requestsPerMinute: 3, now: () => now });
    for (let i = 0; i < 3; i++) {
      limits.admit("a")[0]!.release();
      now += 10_000;
    }
    // requests at 0 s, 10 s, 20 s; now 30 s: the first leaves the window at 60 s
    let err: LimitExceededError | undefined;
    try {
      limits.admit("a");
    } catch (e) {
      err = e as LimitExceededError;
    }
    expect(err?.limit).toBe("requests_per_minute");
    expect(err?.retryAfterS).toBe(30);
    now += 29_000;
    expect(() => limits.admit("a")).toThrow(LimitExceededError);
    now += 1_001;
    expect(() => limits.admit("a")).not.toThrow();
    expect(() => limits.admit("a")).toThrow(LimitExceededError);
  });
});
