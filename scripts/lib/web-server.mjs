/**
 * The production web server: Next's request handler on our own HTTP listeners, so that
 * 1. it binds loopback by default, both 127.0.0.1 and ::1 (`http://localhost:PORT` works whichever
 *    a client resolves), or HOST when set (`0.0.0.0`, `::`, one address);
 * 2. route code knows what the socket saw: any client-sent `x-loraland-peer` header is dropped and
 *    set to `<remote address>;direct|forwarded` ("forwarded" when a Forwarded or X-Forwarded-For
 *    header came with it), and `globalThis.__loralandPeerHeader` tells server/auth/access.ts the
 *    header is ours (under a bare `next start` it is not trusted).
 * A non-loopback HOST without ADMIN_TOKEN refuses to start (anyone who can reach it would be admin
 * otherwise; scripts/start.ts says the same earlier). Plain JavaScript: Node runs it as is.
 *
 *   PORT=3000 [HOST=0.0.0.0 ADMIN_TOKEN=...] node scripts/lib/web-server.mjs
 */
import http from "node:http";
import next from "next";

const PEER_HEADER = "x-loraland-peer";
const port = Number(process.env.PORT || 3000);
const host = (process.env.HOST ?? "").trim();
const hosts = !host || host.toLowerCase() === "localhost" ? ["127.0.0.1", "::1"] : [host];
const isLoopback = (h) => {
  const v = h.replace(/^\[|\]$/g, "").toLowerCase();
  return v === "localhost" || v === "::1" || /^127(\.\d{1,3}){3}$/.test(v) || /^::ffff:127(\.\d{1,3}){3}$/.test(v);
};

if (!hosts.every(isLoopback) && !(process.env.ADMIN_TOKEN ?? "").trim()) {
  process.stderr.write(`[web] HOST=${host} makes the web server reachable from other machines, but ADMIN_TOKEN is not set: set ADMIN_TOKEN, or leave HOST unset to listen on loopback only\n`);
  process.exit(2);
}

const app = next({ dev: false, dir: process.cwd(), hostname: hosts[0], port });
await app.prepare();
const handle = app.getRequestHandler();
globalThis.__loralandPeerHeader = true;

function onRequest(req, res) {
  // set by us, whatever the client sent (header names are lower-case in Node)
  const forwarded = req.headers.forwarded !== undefined || req.headers["x-forwarded-for"] !== undefined;
  req.headers[PEER_HEADER] = `${req.socket.remoteAddress ?? ""};${forwarded ? "forwarded" : "direct"}`;
  handle(req, res).catch((err) => {
    console.error("[web] request failed:", err);
    if (!res.headersSent) res.statusCode = 500;
    res.end();
  });
}

let listening = 0;
await Promise.all(
  hosts.map(
    (h) =>
      new Promise((resolve) => {
        const server = http.createServer(onRequest);
        server.once("error", (err) => {
          // ::1 is missing where IPv6 is off; 127.0.0.1 alone still serves localhost
          if (hosts.length > 1 && err.code === "EADDRNOTAVAIL") process.stderr.write(`[web] not listening on ${h}: ${err.message}\n`);
          else {
            process.stderr.write(`[web] cannot listen on ${h}:${port}: ${err.message}\n`);
            process.exit(1);
          }
          resolve();
        });
        server.listen(port, h, () => {
          listening++;
          resolve();
        });
      }),
  ),
);
if (!listening) process.exit(1);
process.stderr.write(`[web] listening on ${hosts.map((h) => (h.includes(":") ? `[${h}]` : h) + `:${port}`).join(", ")}\n`);
