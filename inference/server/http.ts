/**
 * Plain `node:http` helpers: JSON bodies with a size limit, JSON answers, errors in the
 * protocol's shape (LoRAX or OpenAI), and a tiny method + path router.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, loraxErrorBody, openaiErrorBody, toHttpError } from "./errors";

export type ErrorStyle = "lorax" | "openai";

/** Reads the body as JSON; 413 beyond `limitBytes`, 422 when it is not JSON. */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) {
    throw new HttpError(413, "payload_too_large", `the request body has ${declared} bytes; the limit is ${limitBytes}`, { field: "body" });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      req.resume(); // drain the rest without keeping it
      throw new HttpError(413, "payload_too_large", `the request body is larger than the limit of ${limitBytes} bytes`, { field: "body" });
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new HttpError(422, "invalid_request", "the request body is empty; send a JSON object", { field: "body" });
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(422, "invalid_request", `the request body is not valid JSON (${(e as Error).message})`, { field: "body" });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown, style: ErrorStyle, headers: Record<string, string> = {}): HttpError {
  const e = toHttpError(err);
  const extra: Record<string, string> = { ...headers };
  if (e.retryAfter !== undefined) extra["retry-after"] = String(e.retryAfter);
  sendJson(res, e.status, style === "openai" ? openaiErrorBody(e) : loraxErrorBody(e), extra);
  return e;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
  style: ErrorStyle;
}

/** Routes like `/adapters/:id` (a `:name*` segment takes the rest of the path, slashes included). */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler, style: ErrorStyle = "lorax"): this {
    const names: string[] = [];
    const source = path
      .split("/")
      .map((seg) => {
        const m = /^:(\w+)(\*)?$/.exec(seg);
        if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(m[1]);
        return m[2] ? "(.+)" : "([^/]+)";
      })
      .join("/");
    this.routes.push({ method, pattern: new RegExp(`^${source}/?$`), names, handler, style });
    return this;
  }

  /** the matching route, or a 404/405 HttpError */
  match(method: string, pathname: string): { handler: Handler; params: Record<string, string>; style: ErrorStyle } {
    let pathMatched: Route | null = null;
    for (const r of this.routes) {
      const m = r.pattern.exec(pathname);
      if (!m) continue;
      pathMatched = r;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]);
        } catch {
          // "%", "%E0%A4%A": not percent-encoding; a client's error, not the worker's
          throw new HttpError(400, "invalid_request", `the path ${pathname.slice(0, 200)} is not valid percent-encoding`, { field: n });
        }
      });
      return { handler: r.handler, params, style: r.style };
    }
    if (pathMatched) throw Object.assign(new HttpError(405, "method_not_allowed", `${method} is not allowed on ${pathname}`), { style: pathMatched.style });
    throw new HttpError(404, "not_found", `no route for ${method} ${pathname}`);
  }
}
