/**
 * The worker's OpenAI routes through the web app's own address, for "Use via API" when the worker
 * is not public (PUBLIC_INFERENCE_URL unset): `POST /api/v1/completions`,
 * `POST /api/v1/chat/completions`, `GET /api/v1/models`, passed to INFERENCE_URL's `/v1/...`
 * (the built-in worker) with bodies and streams passed through untouched.
 * Who may: a signed owner cookie (same-site requests only, like tRPC's state changes) or
 * `Authorization: Bearer <ADMIN_TOKEN>`; else 401. Generations count against the caller's limits as
 * generate.start does (server/limits.ts: concurrent streams, requests a minute; 429 + Retry-After).
 * Errors are OpenAI-shaped: `{error: {message, type, code}}`.
 */
// db-handle, not ./db ("server-only"): the route is also exercised directly by tests/web/api-v1-proxy.test.ts
import { getServerDb } from "@/server/db-handle";
import { clientAddress, isBearerAdmin } from "@/server/auth/access";
import { capBody, declaredLength } from "@/server/http/body-limit";
import { ownerFromHeaders } from "@/server/auth/owner-cookie";
import { getEnv, inferenceUrl } from "@/server/env";
import { routeFailure } from "@/server/http/route-errors";
import { LimitExceededError, retryAfterSeconds } from "@/server/limits";
import { generateLimits } from "@/server/routers/generate";
import { isSameOrigin } from "@/server/trpc";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const ROUTES: Record<string, "GET" | "POST"> = { completions: "POST", "chat/completions": "POST", models: "GET" };
/** the generate routes' own body cap is the worker's; this only stops a runaway upload early */
const MAX_BODY_BYTES = 1 << 20;

function fail(status: number, message: string, code: string, headers: Record<string, string> = {}) {
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return Response.json({ error: { message, type, code } }, { status, headers });
}

type Ctx = { params: Promise<{ path: string[] }> };

async function proxy(req: Request, ctx: Ctx, method: "GET" | "POST"): Promise<Response> {
  const sub = (await ctx.params).path.join("/");
  if (ROUTES[sub] === undefined) return fail(404, `/api/v1/${sub} is not served here (completions, chat/completions, models)`, "not_found");
  if (ROUTES[sub] !== method) return fail(405, `/api/v1/${sub} takes ${ROUTES[sub]}`, "method_not_allowed", { allow: ROUTES[sub] });
  const env = getEnv();
  const admin = isBearerAdmin(req.headers, env);
  const owner = admin ? null : await ownerFromHeaders(await getServerDb(), req.headers);
  if (!admin && !owner) return fail(401, "send the owner cookie of this site or Authorization: Bearer <ADMIN_TOKEN>", "unauthorized");
  // a cookie rides along on cross-site requests: only same-site ones may spend its owner's limits
  if (owner && !isSameOrigin(req.headers)) return fail(403, "cross-site request refused", "forbidden");

  let body: ArrayBuffer | undefined;
  let lease: { release(): void } | undefined;
  if (method === "POST") {
    const tooLarge = () => fail(413, `the body is over ${MAX_BODY_BYTES} bytes`, "too_large");
    if ((declaredLength(req) ?? 0) > MAX_BODY_BYTES) return tooLarge();
    // read through a cap: a body without a length is cut off at the limit, not buffered whole
    const capped = capBody(req, MAX_BODY_BYTES);
    try {
      body = await capped.request.arrayBuffer();
    } catch (e) {
      if (capped.exceeded()) return tooLarge();
      throw e;
    }
    try {
      [lease] = generateLimits().admit(owner ?? "admin", 1, clientAddress(req.headers, env));
    } catch (e) {
      if (!(e instanceof LimitExceededError)) throw e;
      return fail(429, e.message, e.limit, { "retry-after": String(retryAfterSeconds(e)) });
    }
  }
  let upstream: Response;
  try {
    upstream = await fetch(`${inferenceUrl(env)}/v1/${sub}`, {
      method,
      body,
      headers: { "content-type": req.headers.get("content-type") ?? "application/json", accept: req.headers.get("accept") ?? "*/*" },
      signal: req.signal,
    });
  } catch (e) {
    lease?.release();
    return fail(502, `the worker did not answer: ${e instanceof Error ? e.message : String(e)}`, "worker_unreachable");
  }
  if (!upstream.body || !lease) {
    lease?.release();
    return new Response(upstream.body, { status: upstream.status, headers: passHeaders(upstream) });
  }
  // the stream's lease is held until the body ends or the client leaves
  const held = lease;
  const relay = upstream.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: () => held.release() }));
  req.signal.addEventListener("abort", () => held.release(), { once: true });
  return new Response(relay, { status: upstream.status, headers: passHeaders(upstream) });
}

function passHeaders(r: Response): Headers {
  const h = new Headers();
  for (const k of ["content-type", "cache-control", "retry-after"]) {
    const v = r.headers.get(k);
    if (v) h.set(k, v);
  }
  return h;
}

/** `proxy`, with what it did not expect (the database down: 503 + Retry-After) in OpenAI's shape. */
async function handle(req: Request, ctx: Ctx, method: "GET" | "POST"): Promise<Response> {
  try {
    return await proxy(req, ctx, method);
  } catch (err) {
    const f = routeFailure(err, "passing the request to the worker", "api/v1");
    return fail(f.status, f.message, f.code.toLowerCase(), f.headers);
  }
}

export const GET = (req: Request, ctx: Ctx) => handle(req, ctx, "GET");
export const POST = (req: Request, ctx: Ctx) => handle(req, ctx, "POST");
