/**
 * The worker's HTTP server, independent of the CLI: `createWorkerServer(state)` answers /health
 * (503 until an engine is set), /info and /metrics at once, and every other route once
 * `state.setEngine(engine)` was called — so it can listen while the model loads.
 */
import http from "node:http";
import { HttpError, toHttpError } from "./errors";
import { Router, sendError, sendJson, type ErrorStyle } from "./http";
import { prometheusToJson, wantsJson } from "./metrics-json";
import { addLoraxRoutes } from "./routes-lorax";
import { addOpenAiRoutes } from "./routes-openai";
import { addAdapterRoutes } from "./routes-adapters";
import { WorkerState, type WorkerOptions } from "./state";

export { WorkerState, type WorkerOptions };

/** routes counted in metrics under their own name; everything else is "other" */
const KNOWN = new Set(["/", "/generate", "/generate_stream", "/tokenize", "/info", "/health", "/metrics", "/adapters", "/v1/completions", "/v1/chat/completions", "/v1/models"]);

export function createWorkerServer(state: WorkerState): http.Server {
  const router = new Router();
  addLoraxRoutes(router, state);
  addOpenAiRoutes(router, state);
  addAdapterRoutes(router, state);
  router.add("GET", "/metrics", ({ req, res, url }) => {
    const e = state.engine;
    const adapters = e ? e.listAdapters() : [];
    const text = state.metrics.render({
      ready: state.phase === "ready",
      inFlight: state.inFlight,
      connections: state.openConnections,
      downloads: state.downloads,
      queued: e ? e.stats().waiting : 0,
      stats: e ? e.stats() : null,
      adapters: { registered: adapters.length, failed: adapters.filter((a) => a.state === "failed").length },
    });
    if (wantsJson(req, url)) return sendJson(res, 200, prometheusToJson(text));
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
    res.end(text);
  });

  const o = state.options;
  const maxConnections = o.maxConnections ?? 512;
  const headersTimeout = o.headersTimeoutMs ?? 10_000;
  let openConnections = 0;
  const overCap = new WeakSet<object>();
  const server = http.createServer({
    // slow clients: headers, then headers + body, must arrive in time (Node answers 408 and
    // closes). Both clocks stop once the request is received, so a long stream is never cut;
    // an idle keep-alive socket is governed by keepAliveTimeout, not by these.
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, o.bodyTimeoutMs ?? 30_000),
    connectionsCheckingInterval: Math.min(1000, headersTimeout),
    // idle keep-alive sockets live longer than clients' pools keep them (undici: 4 s), so a client
    // rarely sends on a socket the worker is closing
    keepAliveTimeout: 65_000,
  }, (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://worker");
    const route = KNOWN.has(url.pathname) ? url.pathname : url.pathname.startsWith("/adapters/") ? "/adapters/:id" : "other";
    res.once("close", () => {
      const status = res.headersSent ? res.statusCode : 499; // 499: the client left before an answer
      state.metrics.requests.inc({ route, status: String(status) });
      // polls (health, metrics, info, the adapter list the web app reads every few seconds) are not logged unless they fail
      const poll = route === "/health" || route === "/metrics" || route === "/info" || (route === "/adapters" && req.method === "GET" && status < 400);
      if (!poll) {
        state.log("request", { method: req.method, path: url.pathname, status, ms: Math.round(performance.now() - started) });
      }
    });
    let style: ErrorStyle = url.pathname.startsWith("/v1/") ? "openai" : "lorax";
    void (async () => {
      try {
        if (overCap.has(req.socket)) {
          // over the connection cap: an answer the client can act on, then this connection goes
          res.setHeader("connection", "close");
          state.metrics.rejected.inc({ reason: "connections" });
          throw new HttpError(429, "too_many_connections", `the worker has ${openConnections} open connections (limit ${maxConnections}); retry after 1s on a new connection`, { retryAfter: 1 });
        }
        if (state.phase === "stopping" && req.method !== "GET") {
          throw new HttpError(503, "unavailable", "the worker is shutting down", { retryAfter: 5 });
        }
        const m = router.match(req.method ?? "GET", url.pathname);
        style = m.style;
        await m.handler({ req, res, url, params: m.params });
      } catch (err) {
        const e = toHttpError(err);
        if (e.status >= 500 && e.code === "internal") state.log("request_failed", { path: url.pathname, error: err instanceof Error ? err.stack ?? err.message : String(err) });
        if (res.headersSent) {
          res.end();
          return;
        }
        sendError(res, e, style, { "x-model-id": state.options.modelId });
      }
    })();
  });
  // connections beyond the cap are accepted and answered 429 (see above); beyond twice the cap
  // Node drops new sockets outright, so idle sockets cannot exhaust file descriptors
  server.on("connection", (socket) => {
    openConnections++;
    state.openConnections = openConnections;
    if (openConnections > maxConnections) overCap.add(socket);
    socket.once("close", () => {
      openConnections--;
      state.openConnections = openConnections;
    });
  });
  server.maxConnections = 2 * maxConnections;
  return server;
}
