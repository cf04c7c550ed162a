/**
 * Request bodies with a byte limit that holds whatever Content-Length says (or without one): the
 * body is counted as it streams and cut at the limit, so nothing larger is ever buffered.
 */
export interface CappedRequest {
  request: Request;
  /** true once the body went past the limit (the reader then sees an error) */
  exceeded(): boolean;
}

export function declaredLength(req: Request): number | null {
  const v = req.headers.get("content-length");
  const n = v === null ? NaN : Number(v);
  return Number.isFinite(n) ? n : null;
}

export function capBody(req: Request, maxBytes: number): CappedRequest {
  let over = false;
  if (!req.body) return { request: req, exceeded: () => false };
  let seen = 0;
  const body = req.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          over = true;
          ctl.error(new Error(`body over ${maxBytes} bytes`));
        } else ctl.enqueue(chunk);
      },
    }),
  );
  const request = new Request(req.url, { method: req.method, headers: req.headers, body, signal: req.signal, duplex: "half" } as RequestInit & { duplex: "half" });
  return { request, exceeded: () => over };
}
