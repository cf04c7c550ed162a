/**
 * Limits of the web server: per owner, concurrent streams and requests per minute; per client
 * address, requests per minute (so minting owners does not multiply the budget). Generation and
 * eval starts count; nothing else does. Sliding 60 s windows, in memory (one web process owns them,
 * like the stream hub), pruned as they age. Over a limit `admit` throws LimitExceededError (a
 * LoraLandError, TOO_MANY_REQUESTS), which tRPC answers with HTTP 429 and a Retry-After header.
 */
import { LoraLandError } from "./errors";

export interface LimitOptions {
  /** streams one owner may have running at once (a 6-pane comparison holds 6) */
  maxConcurrentStreams: number;
  /** generation/eval requests one owner may start in any 60 s */
  requestsPerMinute: number;
  /** requests one client address may start in any 60 s (all its owners together); default 4 × requestsPerMinute */
  addressRequestsPerMinute?: number;
  /** clock, for tests */
  now?: () => number;
}

/** When a concurrency refusal may be retried: streams end on their own, so a short wait. */
export const CONCURRENCY_RETRY_S = 5;

export class LimitExceededError extends LoraLandError {
  constructor(
    readonly limit: "concurrent_streams" | "requests_per_minute" | "address_requests_per_minute",
    message: string,
    /** when trying again can succeed (seconds); null for concurrency (when a stream ends) */
    retryAfterS: number | null,
  ) {
    super("TOO_MANY_REQUESTS", message, { retryAfterS });
    this.name = "LimitExceededError";
  }
}

/** The Retry-After (seconds) for an error that refused a request (a worker's 429 keeps the worker's). */
export function retryAfterSeconds(cause: unknown): number {
  return cause instanceof LoraLandError && cause.retryAfterS !== null ? cause.retryAfterS : CONCURRENCY_RETRY_S;
}

/** A running stream's hold on the concurrency limit; `release` is idempotent. */
export interface StreamLease {
  release(): void;
}

const WINDOW_MS = 60_000;

/** Request times per key within the last minute; keys with none left are dropped. */
class SlidingWindow {
  private readonly times = new Map<string, number[]>();
  private lastSweep = 0;

  constructor(private readonly perMinute: number) {}

  /** seconds until `key` may start one more, or 0 when it may now */
  waitS(key: string, now: number): number {
    this.sweep(now);
    const t = (this.times.get(key) ?? []).filter((x) => x > now - WINDOW_MS);
    if (t.length) this.times.set(key, t);
    else this.times.delete(key);
    return t.length >= this.perMinute ? Math.max(1, Math.ceil((t[0]! + WINDOW_MS - now) / 1000)) : 0;
  }

  record(key: string, now: number): void {
    const t = this.times.get(key) ?? [];
    t.push(now);
    this.times.set(key, t);
  }

  /** keys still counted (for tests: pruning keeps this bounded) */
  get size(): number {
    return this.times.size;
  }

  private sweep(now: number) {
    if (now - this.lastSweep < WINDOW_MS) return;
    this.lastSweep = now;
    for (const [k, t] of this.times) if (!t.some((x) => x > now - WINDOW_MS)) this.times.delete(k);
  }
}

export class OwnerLimits {
  private readonly active = new Map<string, number>();
  private readonly owners: SlidingWindow;
  private readonly addresses: SlidingWindow;
  private readonly addressPerMinute: number;
  private readonly now: () => number;

  constructor(private readonly opts: LimitOptions) {
    this.now = opts.now ?? Date.now;
    this.addressPerMinute = opts.addressRequestsPerMinute ?? opts.requestsPerMinute * 4;
    this.owners = new SlidingWindow(opts.requestsPerMinute);
    this.addresses = new SlidingWindow(this.addressPerMinute);
  }

  /**
   * Admits one request of `ownerId` (from `address`, when known) starting `streams` streams, or
   * throws LimitExceededError without counting it. Returns one lease per stream.
   */
  admit(ownerId: string, streams = 1, address?: string): StreamLease[] {
    const now = this.now();
    const ownerWait = this.owners.waitS(ownerId, now);
    if (ownerWait) {
      throw new LimitExceededError(
        "requests_per_minute",
        `Too many requests: at most ${this.opts.requestsPerMinute} generations a minute. Try again in ${ownerWait} s.`,
        ownerWait,
      );
    }
    const addressWait = address === undefined ? 0 : this.addresses.waitS(address, now);
    if (addressWait) {
      throw new LimitExceededError(
        "address_requests_per_minute",
        `Too many requests from your network address: at most ${this.addressPerMinute} a minute. Try again in ${addressWait} s.`,
        addressWait,
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
    this.owners.record(ownerId, now);
    if (address !== undefined) this.addresses.record(address, now);
    if (streams > 0) this.active.set(ownerId, running + streams);
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

  /** owners and addresses with requests still in the window (pruning keeps these bounded) */
  tracked(): { owners: number; addresses: number } {
    return { owners: this.owners.size, addresses: this.addresses.size };
  }
}
