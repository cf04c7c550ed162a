"use client";
/**
 * Bring your own adapter: upload a PEFT LoRA folder (adapter_config.json +
 * adapter_model.safetensors) or register a Hugging Face repo id. Talks to POST /api/adapters,
 * which validates against the served base model and registers it with the worker.
 */
import Link from "next/link";
import { useState } from "react";

const MAX_BYTES = 64 * 1024 * 1024;

type Outcome = { ok: true; id: string } | { ok: false; error: string } | null;

function pickFiles(list: FileList | null): { config: File | null; weights: File | null } {
  const files = [...(list ?? [])];
  const named = (n: string) => files.find((f) => f.name === n || f.webkitRelativePath.endsWith(`/${n}`)) ?? null;
  return { config: named("adapter_config.json"), weights: named("adapter_model.safetensors") };
}

export function AdapterUploadForm({ tasks }: { tasks: { slug: string; name: string }[] }) {
  const [mode, setMode] = useState<"upload" | "hub">("upload");
  const [id, setId] = useState("");
  const [task, setTask] = useState("");
  const [repo, setRepo] = useState("");
  const [files, setFiles] = useState<{ config: File | null; weights: File | null }>({ config: null, weights: null });
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setOutcome(null);
    let init: RequestInit;
    if (mode === "upload") {
      if (!files.config || !files.weights) return setOutcome({ ok: false, error: "Choose both adapter_config.json and adapter_model.safetensors (or the folder holding them)." });
      if (files.config.size + files.weights.size > MAX_BYTES) return setOutcome({ ok: false, error: `The adapter is larger than ${MAX_BYTES / 1024 / 1024} MB.` });
      const body = new FormData();
      body.set("id", id);
      if (task) body.set("task", task);
      body.set("adapter_config.json", files.config, "adapter_config.json");
      body.set("adapter_model.safetensors", files.weights, "adapter_model.safetensors");
      init = { method: "POST", body };
    } else {
      init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: id || undefined, repo, task: task || undefined }) };
    }
    setBusy(true);
    try {
      const res = await fetch("/api/adapters", init);
      const json = (await res.json().catch(() => ({}))) as { id?: string; error?: string };
      setOutcome(res.ok && json.id ? { ok: true, id: json.id } : { ok: false, error: json.error ?? `HTTP ${res.status}` });
    } catch (err) {
      setOutcome({ ok: false, error: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  const input = "w-full rounded-md border border-slate-300 bg-transparent px-3 py-2 text-sm dark:border-slate-700";
  return (
    <form onSubmit={submit} className="max-w-xl space-y-4" data-testid="adapter-upload-form">
      <div role="tablist" aria-label="How to add the adapter" className="flex gap-2 text-sm">
        {(["upload", "hub"] as const).map((m) => (
          <button
            key={m}
            type="button"
            role="tab"
            aria-selected={mode === m}
            onClick={() => setMode(m)}
            className={`rounded-md px-3 py-1.5 ${mode === m ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900" : "border border-slate-300 dark:border-slate-700"}`}
          >
            {m === "upload" ? "Upload a folder" : "Hugging Face repo"}
          </button>
        ))}
      </div>
      <label className="block text-sm">
        <span className="mb-1 block font-medium">Adapter id</span>
        <input className={input} value={id} onChange={(e) => setId(e.target.value.toLowerCase())} placeholder="my-sql-adapter" pattern="[a-z0-9][a-z0-9._\-]{0,63}" required={mode === "upload"} data-testid="upload-id" />
        <span className="text-xs text-slate-500">Lowercase letters, digits, “.”, “_” or “-”. It becomes /adapters/&lt;id&gt;.</span>
      </label>
      {mode === "upload" ? (
        <label className="block text-sm">
          <span className="mb-1 block font-medium">PEFT adapter files</span>
          <input type="file" multiple accept=".json,.safetensors" className="text-sm" onChange={(e) => setFiles(pickFiles(e.target.files))} data-testid="upload-files" />
          <span className="block text-xs text-slate-500">
            adapter_config.json and adapter_model.safetensors, up to 64 MB. {files.config ? "✓ config" : "– config"} · {files.weights ? "✓ weights" : "– weights"}
          </span>
        </label>
      ) : (
        <label className="block text-sm">
          <span className="mb-1 block font-medium">Repository</span>
          <input className={input} value={repo} onChange={(e) => setRepo(e.target.value)} placeholder="your-name/your-lora-adapter" required data-testid="upload-repo" />
          <span className="text-xs text-slate-500">
            A PEFT LoRA repository (owner/name). The worker downloads it from the Hub (needs network access on the worker). LoRA Land&apos;s own predibase/… adapters are already in the catalog.
          </span>
        </label>
      )}
      <label className="block text-sm">
        <span className="mb-1 block font-medium">Task (optional)</span>
        <select className={input} value={task} onChange={(e) => setTask(e.target.value)} data-testid="upload-task">
          <option value="">None — free-form prompts</option>
          {tasks.map((t) => (
            <option key={t.slug} value={t.slug}>
              {t.name}
            </option>
          ))}
        </select>
        <span className="text-xs text-slate-500">Gives it that task’s prompt template and lets you evaluate it on that task’s test split.</span>
      </label>
      <button type="submit" disabled={busy} className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700 disabled:opacity-60" data-testid="upload-submit">
        {busy ? "Validating…" : mode === "upload" ? "Upload and register" : "Register"}
      </button>
      {outcome && !outcome.ok && (
        <p role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-700 dark:border-red-900 dark:bg-red-950 dark:text-red-200" data-testid="upload-error">
          {outcome.error}
        </p>
      )}
      {outcome?.ok && (
        <p role="status" className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm dark:border-emerald-900 dark:bg-emerald-950" data-testid="upload-ok">
          Registered <strong>{outcome.id}</strong>.{" "}
          <Link className="underline" href={`/adapters/${outcome.id}`}>
            Open it
          </Link>{" "}
          ·{" "}
          <Link className="underline" href={`/adapters/${outcome.id}/eval`}>
            Evaluate it
          </Link>
        </p>
      )}
    </form>
  );
}
