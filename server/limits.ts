/**
 * Per-owner limits of the web server: concurrent streams and requests per minute (sliding
 * window). In memory: one web process owns them, like the stream hub. Over a limit the router
 * throws TRPCError TOO_MANY_REQUESTS, which tRPC answers with HTTP 429.
 */

export interface LimitOptions {
  /** streams one owner may have running at once (a 6-pane comparison holds 6) */
  maxConcurrentStreams: number;
  /** generation requests one owner may start in any 60 s */
  requestsPerMinute: number;
  /** clock, for tests */
  now?: () => number;
}

export class LimitExceededError extends Error {
  readonly code = "rate_limit:exceeded";
  constructor(
    readonly limit: "concurrent_streams" | "requests_per_minute",
    message: string,
    /** when trying again can succeed (seconds); null for concurrency (when a stream ends) */
    readonly retryAfterS: number | null,
  ) {
    super(message);
    this.name = "LimitExceededError";
  }
}

/** A running stream's hold on the concurrency limit; `release` is idempotent. */
export interface StreamLease {
  release(): void;
}

const WINDOW_MS = 60_000;

export class OwnerLimits {
  private readonly active = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(private readonly opts: LimitOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Admits one request starting `streams` streams, or throws LimitExceededError without
   * counting it. Returns one lease per stream.
   */
  admit(ownerId: string, streams = 1): StreamLease[] {
    const now = this.now();
    const times = (this.recent.get(ownerId) ?? []).filter((t) => t > now - WINDOW_MS);
    if (times.length >= this.opts.requestsPerMinute) {
      const retry = Math.max(1, Math.ceil((times[0]! + WINDOW_MS - now) / 1000));
      this.recent.set(ownerId, times);
      throw new LimitExceededError(
        "requests_per_minute",
        `Too many requests: at most ${this.opts.requestsPerMinute} generations a minute. Try again in ${retry} s.`,
        retry,
      );
    }
    const running = this.active.get(ownerId) ?? 0;
    if (running + streams > this.opts.maxConcurrentStreams) {
      throw new LimitExceededError(
        "concurrent_streams",
        `Too many streams at once: ${running} running, ${streams} more asked, at most ${this.opts.maxConcurrentStreams}. Stop one or wait for it to finish.`,
        null,
      );
    }
    times.push(now);
    this.recent.set(ownerId, times);
    this.active.set(ownerId, running + streams);
    return Array.from({ length: streams }, () => {
      let held = true;
      return {
        release: () => {
          if (!held) return;
          held = false;
          const left = (this.active.get(ownerId) ?? 1) - 1;
          if (left <= 0) this.active.delete(ownerId);
          else this.active.set(ownerId, left);
        },
      };
    });
  }

  running(ownerId: string): number {
    return this.active.get(ownerId) ?? 0;
  }
}
