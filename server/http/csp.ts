/** The pages' Content-Security-Policy (set by proxy.ts with a fresh nonce per page load). */

/** the request header the layout reads the nonce from */
export const NONCE_HEADER = "x-nonce";

export function contentSecurityPolicy(nonce: string, dev = process.env.NODE_ENV !== "production"): string {
  return [
    "default-src 'self'",
    // 'strict-dynamic': scripts our nonced scripts load (Next's chunks) run too; nothing else does
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ""}`,
    // React sets style attributes (token shading); no script can come in through them
    "style-src 'self' 'unsafe-inline'",
    // model output never loads remote images (components/playground/StreamView.tsx)
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
