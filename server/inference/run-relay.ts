/**
 * Streams across web servers that share one Postgres (no other service): a browser whose
 * reconnect lands on a server that did not start its run is served that run's event log, from
 * its `lastEventId`, by the server that holds it, over Postgres LISTEN/NOTIFY.
 *
 * Each server process LISTENs on its own channel (named after its instance id). The watcher (the
 * server the browser reached) sends `want` {run, from, sub} to the owner's channel; the owner
 * answers `ok` (or `none`: it no longer holds the run), then relays the run's events from `from`
 * as `ev` {i, chunk} in index order and `fin` {n} when the run is over. While relayed, the run
 * counts as watched, so the owner does not cut it off as abandoned; `bye` ends a relay when the
 * browser leaves; `stop` carries a stop asked on another server. The watcher re-orders by index and checks the owner's lease when it hears
 * nothing for a while: a dead owner ends the relay and the caller falls back to the stored rows.
 * PGlite has one process: the in-process hub is all there is.
 */
import { randomUUID } from "node:crypto";
import type { RunChunk, StreamHub } from "./stream-hub";

/** The part of a postgres.js client the relay uses. */
export interface NotifyClient {
  listen(channel: string, onNotify: (payload: string) => void): Promise<unknown>;
  notify(channel: string, payload: string): Promise<unknown>;
}

type Message =
  | { t: "want"; run: string; from: number; sub: string; reply: string }
  /** a stop asked on another server (pane absent = all) */
  | { t: "stop"; run: string; owner: string; pane?: number; shown?: (number | null)[] }
  | { t: "bye"; sub: string }
  | { t: "ok"; sub: string }
  | { t: "none"; sub: string }
  /** `stored`: the end chunk's output was too long for a notification; read it from the row */
  | { t: "ev"; sub: string; i: number; c: RunChunk; stored?: true }
  | { t: "fin"; sub: string; n: number };

/** Postgres refuses a NOTIFY payload of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7_900;
/** Silence from the owner for this long → ask again, or give up when its lease ran out. */
const SILENCE_MS = 3_000;

const channelOf = (instanceId: string) => `loraland_${instanceId.replaceAll("-", "")}`;

/** How a relayed watch ended: the run's end, the owner no longer holds it, the owner is gone, or the watcher left. */
export type WatchOutcome = "finished" | "none" | "dead" | "aborted";

export class RunRelay {
  /** relays this server serves to watchers elsewhere, by subscription */
  private readonly serving = new Map<string, AbortController>();
  /** this server's own watches, by subscription */
  private readonly watching = new Map<string, (m: Message) => void>();

  constructor(
    private readonly client: NotifyClient,
    readonly instanceId: string,
    private readonly hub: StreamHub,
  ) {}

  async start(): Promise<void> {
    await this.client.listen(channelOf(this.instanceId), (payload) => this.onMessage(payload));
  }

  private send(instanceId: string, m: Message): Promise<unknown> {
    return this.client.notify(channelOf(instanceId), JSON.stringify(m));
  }

  private onMessage(payload: string) {
    let m: Message;
    try {
      m = JSON.parse(payload) as Message;
    } catch {
      return;
    }
    if (m.t === "want") void this.serve(m);
    else if (m.t === "stop") this.hub.stop(m.run, m.owner, m.pane, m.shown);
    else if (m.t === "bye") this.serving.get(m.sub)?.abort();
    else this.watching.get(m.sub)?.(m);
  }

  /** Asks the server running a run to stop it (one pane, or all); it ignores another owner's. */
  async stop(ownerInstance: string, runId: string, ownerId: string, pane?: number, shown?: (number | null)[]): Promise<void> {
    await this.send(ownerInstance, { t: "stop", run: runId, owner: ownerId, pane, shown });
  }

  /** The owner's side: relays the run's log from `from` to the watcher until the run ends or the watcher leaves. */
  private async serve(m: Extract<Message, { t: "want" }>) {
    if (this.serving.has(m.sub)) return; // asked again before our `ok` arrived
    const owner = this.hub.ownerOf(m.run);
    try {
      if (owner === null) return void (await this.send(m.reply, { t: "none", sub: m.sub }));
      const ac = new AbortController();
      this.serving.set(m.sub, ac);
      try {
        await this.send(m.reply, { t: "ok", sub: m.sub });
        let n = m.from;
        for await (const [i, c] of this.hub.subscribe(m.run, owner, m.from, ac.signal)) {
          let payload = JSON.stringify({ t: "ev", sub: m.sub, i, c } satisfies Message);
          if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES && c.kind === "end")
            payload = JSON.stringify({ t: "ev", sub: m.sub, i, c: { ...c, output: "" }, stored: true } satisfies Message);
          // one at a time: the watcher hears them in order (it re-orders anyway)
          await this.client.notify(channelOf(m.reply), payload);
          n = i + 1;
        }
        if (!ac.signal.aborted) await this.send(m.reply, { t: "fin", sub: m.sub, n });
      } finally {
        this.serving.delete(m.sub);
      }
    } catch (e) {
      console.error("[web] relaying a stream to another server failed:", e instanceof Error ? e.message : e);
    }
  }

  /**
   * The watcher's side: the run's events from index `from` on, from the server `ownerInstance`.
   * `outcome.value` says how it ended; on "none" or "dead" the caller serves the stored rows.
   * `storedOutput(pane)` reads an end's output that was too long to relay.
   */
  async *watch(opts: {
    runId: string;
    ownerInstance: string;
    from: number;
    signal?: AbortSignal;
    ownerAlive: () => Promise<boolean>;
    storedOutput: (pane: number) => Promise<string>;
    outcome: { value: WatchOutcome };
  }): AsyncGenerator<[number, RunChunk]> {
    const sub = randomUUID();
    const inbox: Message[] = [];
    let wake: (() => void) | null = null;
    this.watching.set(sub, (m) => {
      inbox.push(m);
      wake?.();
    });
    const onAbort = () => wake?.();
    opts.signal?.addEventListener("abort", onAbort);
    const ask = () => this.send(opts.ownerInstance, { t: "want", run: opts.runId, from: opts.from, sub, reply: this.instanceId });
    const early = new Map<number, Extract<Message, { t: "ev" }>>();
    let next = opts.from;
    let end: number | null = null;
    let acked = false;
    opts.outcome.value = "aborted";
    try {
      await ask();
      for (;;) {
        for (let m = inbox.shift(); m; m = inbox.shift()) {
          if (m.t === "none") return void (opts.outcome.value = "none");
          if (m.t === "ok") acked = true;
          else if (m.t === "fin") end = m.n;
          else if (m.t === "ev" && m.i >= next) early.set(m.i, m);
        }
        for (let m = early.get(next); m; m = early.get(next)) {
          early.delete(next);
          const c = m.stored && m.c.kind === "end" ? { ...m.c, output: await opts.storedOutput(m.c.pane) } : m.c;
          yield [next, c];
          next++;
        }
        if (end !== null && next >= end) return void (opts.outcome.value = "finished");
        if (opts.signal?.aborted) return;
        const heard = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), SILENCE_MS);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
          if (inbox.length || opts.signal?.aborted) wake();
        });
        wake = null;
        if (heard) continue;
        if (!(await opts.ownerAlive())) return void (opts.outcome.value = "dead");
        // a `want` sent before the owner listened (it had just started) is lost: ask again
        if (!acked) await ask();
      }
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      this.watching.delete(sub);
      if (opts.outcome.value !== "finished" && opts.outcome.value !== "none")
        void this.send(opts.ownerInstance, { t: "bye", sub }).catch(() => {});
    }
  }
}
