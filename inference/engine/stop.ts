/**
 * Stop sequences matched on the streamed text, across token boundaries. Two modes:
 *
 * - exclusive (default, OpenAI): text that could still be the beginning of a stop sequence is
 *   held back (not emitted) until the next text decides it; on a match everything before the stop
 *   is emitted and the rest dropped. The emitted pieces concatenated equal the full text
 *   truncated at the first stop sequence.
 * - inclusive (LoRAX/TGI): every piece is emitted as it comes; the piece that completes a stop
 *   sequence (found anywhere in the last maxLen - 1 characters plus the piece) ends the text, which
 *   so ends with the stop sequence and whatever else that token's text held.
 */
export class StopMatcher {
  private readonly stops: string[];
  readonly inclusive: boolean;
  /** longest stop sequence, in UTF-16 units */
  private readonly maxLen: number;
  private held = "";
  private stopped = false;

  constructor(stops: readonly string[] | undefined, opts: { inclusive?: boolean } = {}) {
    this.stops = (stops ?? []).filter((s) => s.length > 0);
    this.inclusive = opts.inclusive ?? false;
    this.maxLen = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  get active(): boolean {
    return this.stops.length > 0;
  }

  get hasStopped(): boolean {
    return this.stopped;
  }

  /** feed new text; returns what may be emitted now and whether a stop sequence was hit */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.stopped) return { emit: "", stopped: true };
    if (this.stops.length === 0) return { emit: text, stopped: false };
    const buf = this.held + text;
    if (this.inclusive) {
      // `held` is only the recent tail kept for matching across pieces; it was emitted already
      this.stopped = this.stops.some((s) => buf.includes(s));
      this.held = this.stopped ? "" : buf.slice(Math.max(0, buf.length - (this.maxLen - 1)));
      return { emit: text, stopped: this.stopped };
    }
    // the earliest stop occurrence wins (held text never contained a whole stop sequence)
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.stopped = true;
      this.held = "";
      return { emit: buf.slice(0, at), stopped: true };
    }
    // hold the longest suffix of buf that is a proper prefix of some stop sequence
    let hold = 0;
    for (const s of this.stops) {
      for (let len = Math.min(s.length - 1, buf.length); len > hold; len--) {
        if (buf.endsWith(s.slice(0, len))) { hold = len; break; }
      }
    }
    this.held = buf.slice(buf.length - hold);
    return { emit: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** the held-back text, when generation ends for another reason */
  flush(): string {
    const h = this.held;
    this.held = "";
    return this.stopped || this.inclusive ? "" : h;
  }
}
