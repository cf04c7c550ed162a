"use client";
import { useSuspenseQuery } from "@tanstack/react-query";
import { type RouterOutputs, useTRPC } from "@/trpc/react";

type Status = RouterOutputs["status"]["worker"];

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v >= 100 || u === 0 ? 0 : 1)} ${units[u]}`;
}

function num(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined ? "—" : n.toFixed(digits);
}

/** A field of /info, whichever of the names the server uses. */
function infoField(info: Record<string, unknown> | null, ...names: string[]): unknown {
  if (!info) return undefined;
  for (const n of names) if (info[n] !== undefined && info[n] !== null) return info[n];
  return undefined;
}

/** "webgpu (NVIDIA H100 ...)" or "cpu" from /info's model_device_type and device_adapter */
export function deviceText(info: Record<string, unknown> | null): string {
  const type = infoField(info, "model_device_type");
  if (typeof type !== "string") return "—";
  const adapter = infoField(info, "device_adapter");
  return typeof adapter === "string" && adapter ? `${type} (${adapter})` : type;
}

/** "1.2 GiB of 80.0 GiB" (the total when the platform reports it); "—" on the CPU */
export function deviceMemoryText(info: Record<string, unknown> | null): string {
  const used = infoField(info, "device_memory_in_use_bytes");
  if (typeof used !== "number") return "—";
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 3 : 1)} GiB`;
  const total = infoField(info, "device_memory_total_bytes");
  return typeof total === "number" ? `${gib(used)} of ${gib(total)}` : gib(used);
}

function show(v: unknown): string {
  if (v === undefined || v === null || v === "") return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function Card({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section className="rounded-xl border border-slate-200 p-4 dark:border-slate-800" aria-label={title}>
      <h2 className="mb-3 font-medium">{title}</h2>
      {children}
    </section>
  );
}

function Fields({ rows }: { rows: [string, React.ReactNode][] }) {
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="text-slate-500">{k}</dt>
          <dd className="break-all tabular-nums">{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** the model's download / load progress while the worker is not ready (exported for its test) */
export function LoadProgress({ s }: { s: Pick<Status, "ready" | "online" | "info"> }) {
  const p = infoField(s.info, "load_progress", "loading_progress");
  const fraction = typeof p === "number" ? (p > 1 ? p / 100 : p) : null;
  if (s.ready || !s.online) return null;
  const since = infoField(s.info, "loading_for_ms");
  const error = infoField(s.info, "load_error");
  // our worker: downloading (a Hub base model) then loading, each with its own fraction
  const stage = infoField(s.info, "load_stage");
  const doing = stage === "downloading" ? "Downloading the model" : "Loading the model";
  return (
    <div className="space-y-1" data-testid="load-progress">
      <p className="text-sm">
        {doing}
        {fraction !== null ? ` — ${Math.floor(fraction * 100)}%` : ""}
        {typeof since === "number" ? ` (${(since / 1000).toFixed(0)} s so far)` : ""}…
        {typeof error === "string" && error && <span className="block text-rose-600">Load failed: {error}</span>}
      </p>
      {fraction !== null ? (
        <progress max={1} value={fraction} className="w-full" aria-label="Model load progress" />
      ) : (
        <progress className="w-full" aria-label="Model loading" />
      )}
    </div>
  );
}

export function StatusView() {
  const trpc = useTRPC();
  const { data: s } = useSuspenseQuery({ ...trpc.status.worker.queryOptions(), refetchInterval: 2000 });
  const info = s.info;
  const state = !s.online ? "offline" : !s.ready ? "loading" : "ready";

  return (
    <div className="space-y-6" data-testid="status-page">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-semibold tracking-tight">Worker status</h1>
        <span
          data-testid="worker-state"
          data-state={state}
          className={`rounded-full px-2.5 py-0.5 text-sm font-medium ${
            state === "ready"
              ? "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200"
              : state === "loading"
                ? "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200"
                : "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200"
          }`}
        >
          {state === "ready" ? "Ready" : state === "loading" ? "Loading" : "Offline"}
        </span>
        <span className="text-sm text-slate-500" aria-live="polite">
          checked {s.checkedAt.toISOString().slice(11, 19)} UTC
        </span>
      </div>

      {state === "offline" && (
        <div role="alert" className="rounded-lg border border-red-200 bg-red-50 p-4 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100">
          <p className="font-medium">The inference worker does not answer.</p>
          <p>{s.error}</p>
          <p className="mt-1">
            {s.external
              ? "Check the server at INFERENCE_URL."
              : "npm start restarts a crashed worker automatically; this page refreshes by itself."}
          </p>
        </div>
      )}
      <LoadProgress s={s} />

      <div className="grid gap-4 md:grid-cols-2">
        <Card title="Worker">
          <Fields
            rows={[
              ["URL", <code key="u">{s.url}</code>],
              ["Protocol", s.protocol === "lorax" ? "LoRAX / TGI" : "OpenAI"],
              ["Run by", s.external ? "external server (INFERENCE_URL)" : "npm start (built-in worker)"],
              ["Version", show(infoField(info, "version"))],
              ["Backend", show(infoField(info, "backend", "device"))],
              ["Device", <span key="d" data-testid="worker-device">{deviceText(info)}</span>],
              ["Device memory in use", <span key="dm" data-testid="worker-device-memory">{deviceMemoryText(info)}</span>],
            ]}
          />
        </Card>
        <Card title="Model">
          <Fields
            rows={[
              ["Model", <span key="m" data-testid="worker-model">{s.modelId ?? "—"}</span>],
              ["Architecture", show(infoField(info, "architecture", "model_type"))],
              ["Weights dtype", show(infoField(info, "model_dtype", "dtype", "stored_dtype"))],
              ["Compute dtype", show(infoField(info, "compute_dtype"))],
              ["Parameters", show(infoField(info, "parameters", "num_parameters"))],
              ["Max input tokens", show(infoField(info, "max_input_length", "max_input_tokens"))],
              ["Max total tokens", show(infoField(info, "max_total_tokens", "max_context"))],
            ]}
          />
        </Card>
        <Card title="Load">
          <Fields
            rows={[
              ["Generating", `${num(s.load.tokensPerSecond, 1)} tokens/s`],
              ["Running requests", num(s.load.running ?? s.load.inFlight)],
              ["Queued requests", num(s.load.queued)],
              ["Mean time to first token", s.load.meanTtftSeconds === null ? "—" : `${(s.load.meanTtftSeconds * 1000).toFixed(0)} ms`],
              ["Mean time per output token", s.load.meanTimePerOutputTokenSeconds === null ? "—" : `${(s.load.meanTimePerOutputTokenSeconds * 1000).toFixed(1)} ms`],
              ["KV blocks in use", s.load.kvBlocksUsed === null ? "—" : `${num(s.load.kvBlocksUsed)} / ${num(s.load.kvBlocksTotal)}`],
              ["Tokens generated", num(s.load.generatedTokens)],
            ]}
          />
        </Card>
        <Card title="Memory">
          <Fields
            rows={[
              ["Worker resident memory", bytes(s.load.residentMemoryBytes ?? (infoField(info, "memory_bytes", "rss_bytes") as number | undefined))],
              ["Adapter budget", bytes(infoField(info, "adapter_budget_bytes") as number | undefined)],
              ["Adapter slots", show(infoField(info, "adapter_slots"))],
              ["Resident adapters", num(s.load.residentAdapters ?? s.adapters?.filter((a) => a.state === "resident").length)],
              ["Adapter memory", bytes(s.adapters?.filter((a) => a.state === "resident").reduce((t, a) => t + (a.bytes ?? 0), 0))],
            ]}
          />
        </Card>
      </div>

      <section aria-labelledby="adapters-heading" className="space-y-2">
        <h2 id="adapters-heading" className="font-medium">
          Adapters on this worker
        </h2>
        {s.adapters === null ? (
          <p className="text-sm text-slate-500">{s.online ? "This server does not list adapters (LoRAX loads them on demand)." : "—"}</p>
        ) : s.adapters.length === 0 ? (
          <p className="text-sm text-slate-500">No adapters registered.</p>
        ) : (
          <div className="overflow-x-auto rounded-xl border border-slate-200 dark:border-slate-800">
            <table className="w-full text-sm" data-testid="worker-adapters">
              <thead className="bg-slate-50 text-left text-slate-600 dark:bg-slate-900 dark:text-slate-300">
                <tr>
                  <th scope="col" className="px-3 py-2 font-medium">Adapter</th>
                  <th scope="col" className="px-3 py-2 font-medium">State</th>
                  <th scope="col" className="px-3 py-2 font-medium">Source</th>
                  <th scope="col" className="px-3 py-2 text-right font-medium">Rank</th>
                  <th scope="col" className="px-3 py-2 text-right font-medium">Size</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
                {s.adapters.map((a) => (
                  <tr key={a.id}>
                    <th scope="row" className="px-3 py-2 text-left font-mono font-normal">{a.id}</th>
                    <td className="px-3 py-2" title={a.error ?? undefined}>
                      {a.state ?? "—"}
                      {a.error && <span className="block text-xs text-rose-600">{a.error}</span>}
                    </td>
                    <td className="px-3 py-2">{a.source ?? "—"}</td>
                    <td className="px-3 py-2 text-right tabular-nums">{a.rank ?? "—"}</td>
                    <td className="px-3 py-2 text-right tabular-nums">{bytes(a.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      {s.metrics && s.metrics.length > 0 && (
        <details className="rounded-xl border border-slate-200 p-4 text-sm dark:border-slate-800">
          <summary className="cursor-pointer font-medium">All metrics ({s.metrics.length})</summary>
          <pre className="mt-3 max-h-96 overflow-auto font-mono text-xs">
            {s.metrics.map((m) => `${m.name}${Object.keys(m.labels).length ? `{${Object.entries(m.labels).map(([k, v]) => `${k}="${v}"`).join(",")}}` : ""} ${m.value}`).join("\n")}
          </pre>
        </details>
      )}
    </div>
  );
}
