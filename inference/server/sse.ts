/**
 * Server-sent events as LoRAX/TGI and OpenAI send them: `data: <json>\n\n` per event, no event
 * names, a `: ping` comment as keep-alive, and (OpenAI) a closing `data: [DONE]`.
 */
import type { ServerResponse } from "node:http";

export class SseWriter {
  private closed = false;
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(private readonly res: ServerResponse, headers: Record<string, string> = {}, keepAliveMs = 15_000) {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      ...headers,
    });
    res.flushHeaders();
    this.keepAlive = setInterval(() => this.comment("ping"), keepAliveMs);
    this.keepAlive.unref();
    res.once("close", () => this.stopTimer());
  }

  get isOpen(): boolean {
    return !this.closed && !this.res.destroyed && this.res.writable;
  }

  /** one `data:` event with a JSON payload (JSON never contains a raw newline) */
  send(payload: unknown): void {
    if (!this.isOpen) return;
    this.res.write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  /** a raw data line, e.g. `[DONE]` */
  sendRaw(data: string): void {
    if (!this.isOpen) return;
    this.res.write(`data: ${data}\n\n`);
  }

  comment(text: string): void {
    if (!this.isOpen) return;
    this.res.write(`: ${text}\n\n`);
  }

  end(): void {
    this.stopTimer();
    if (this.closed) return;
    this.closed = true;
    if (!this.res.writableEnded) this.res.end();
  }

  private stopTimer(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }
}
