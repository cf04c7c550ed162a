import { describe, expect, it } from "vitest";
import { CONCURRENCY_RETRY_S, LimitExceededError, OwnerLimits, retryAfterSeconds } from "../../server/limits";

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

  it("caps requests per client address across owners (fresh owners do not multiply the budget)", () => {
    let now = 5_000_000;
    const limits = new OwnerLimits({ maxConcurrentStreams: 100, requestsPerMinute: 2, addressRequestsPerMinute: 3, now: () => now });
    for (let i = 0; i < 3; i++) limits.admit(`owner-${i}`, 1, "198.51.100.1")[0]!.release();
    let err: LimitExceededError | undefined;
    try {
      limits.admit("owner-new", 1, "198.51.100.1");
    } catch (e) {
      err = e as LimitExceededError;
    }
    expect(err?.limit).toBe("address_requests_per_minute");
    expect(err?.retryAfterS).toBe(60);
    expect(err?.message).toMatch(/at most 3 a minute/);
    // another address is not affected; an eval start (0 streams) counts too
    limits.admit("owner-new", 0, "198.51.100.2");
    now += 60_001;
    expect(() => limits.admit("owner-new", 1, "198.51.100.1")).not.toThrow();
  });

  it("forgets owners and addresses whose requests left the window", () => {
    let now = 9_000_000;
    const limits = new OwnerLimits({ maxConcurrentStreams: 100, requestsPerMinute: 5, now: () => now });
    for (let i = 0; i < 500; i++) limits.admit(`o${i}`, 0, `10.0.${i >> 8}.${i & 255}`);
    expect(limits.tracked()).toEqual({ owners: 500, addresses: 500 });
    now += 61_000;
    limits.admit("late", 0, "10.9.9.9");
    expect(limits.tracked()).toEqual({ owners: 1, addresses: 1 });
  });

  it("gives every refusal a Retry-After", () => {
    expect(retryAfterSeconds(new LimitExceededError("requests_per_minute", "x", 17))).toBe(17);
    expect(retryAfterSeconds(new LimitExceededError("concurrent_streams", "x", null))).toBe(CONCURRENCY_RETRY_S);
    expect(retryAfterSeconds(undefined)).toBe(CONCURRENCY_RETRY_S);
  });
});
