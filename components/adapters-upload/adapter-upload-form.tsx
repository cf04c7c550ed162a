"use client";
/**
 * Bring your own adapter: upload a PEFT LoRA folder (adapter_config.json +
 * adapter_model.safetensors: chosen, or dropped as a folder) or register a Hugging Face repo id.
 * Talks to POST /api/adapters, which validates against the served base model and registers it
 * with the worker. The upload goes through XMLHttpRequest: fetch has no upload progress events.
 */
import Link from "next/link";
import { useState } from "react";
import { postWithProgress } from "@/components/post-with-progress";
import { YourAdapters } from "./your-adapters";

const MAX_BYTES = 64 * 1024 * 1024;
const CONFIG = "adapter_config.json";
const WEIGHTS = "adapter_model.safetensors";

type Outcome = { ok: true; id: string } | { ok: false; error: string } | null;
export interface TaskChoice {
  slug: string;
  name: string;
  inputColumns?: string[];
}
interface Picked {
  config: File | null;
  weights: File | null;
  /** other files of a chosen/dropped folder (tokenizer, README): not sent */
  ignored: number;
}

/** The two PEFT files of a folder or a file selection, by name (the shallowest match wins). */
function pickFiles(files: File[]): Picked {
  const depth = (f: File) => (f.webkitRelativePath || f.name).split("/").length;
  const named = (n: string) => files.filter((f) => f.name === n).sort((a, b) => depth(a) - depth(b))[0] ?? null;
  const config = named(CONFIG);
  const weights = named(WEIGHTS);
  return { config, weights, ignored: files.length - (config ? 1 : 0) - (weights ? 1 : 0) };
}

/**
 * Every file of a drop, walking dropped folders. Entries and files must be taken during the drop
 * event (the DataTransfer empties afterwards); an item without an entry (a synthetic or
 * non-filesystem drop) is taken as its plain file.
 */
async function filesFromDrop(dt: DataTransfer): Promise<File[]> {
  const entries: FileSystemEntry[] = [];
  const out: File[] = [];
  for (const item of [...dt.items]) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.() ?? null;
    const file = entry ? null : item.getAsFile();
    if (entry) entries.push(entry);
    else if (file) out.push(file);
  }
  if (dt.items.length === 0) out.push(...dt.files);
  const walk = async (e: FileSystemEntry): Promise<void> => {
    if (e.isFile) out.push(await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej)));
    else if (e.isDirectory) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      // readEntries answers in batches until an empty one
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const c of batch) await walk(c);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

export function AdapterUploadForm({ tasks }: { tasks: TaskChoice[] }) {
  const [mode, setMode] = useState<"upload" | "hub">("upload");
  const [id, setId] = useState("");
  const [task, setTask] = useState("");
  const [repo, setRepo] = useState("");
  const [description, setDescription] = useState("");
  const [sample, setSample] = useState<Record<string, string>>({});
  const [files, setFiles] = useState<Picked>({ config: null, weights: null, ignored: 0 });
  const [dragging, setDragging] = useState(false);
  const [progress, setProgress] = useState<{ loaded: number; total: number; events: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [changed, setChanged] = useState(0);
  const columns = tasks.find((t) => t.slug === task)?.inputColumns ?? [];
  const idOk = /^[a-z0-9][a-z0-9._-]{0,63}$/.test(id);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setOutcome(null);
    if (mode === "upload" && !idOk) return setOutcome({ ok: false, error: "Adapter id: 1–64 lowercase letters, digits, “.”, “_” or “-”, starting with a letter or digit." });
    setBusy(true);
    try {
      let res: { status: number; json: { id?: string; error?: string } };
      if (mode === "upload") {
        if (!files.config || !files.weights) return setOutcome({ ok: false, error: `Choose both ${CONFIG} and ${WEIGHTS} (or drop the folder holding them).` });
        if (files.config.size + files.weights.size > MAX_BYTES) return setOutcome({ ok: false, error: `The adapter is larger than ${MAX_BYTES / 1024 / 1024} MB.` });
        const filled = columns.filter((c) => sample[c]?.trim());
        if (filled.length > 0 && filled.length < columns.length) return setOutcome({ ok: false, error: `Sample input: fill in every field (${columns.join(", ")}) or none.` });
        const body = new FormData();
        body.set("id", id);
        if (task) body.set("task", task);
        if (description.trim()) body.set("description", description);
        if (filled.length > 0) body.set("sample_inputs", JSON.stringify([Object.fromEntries(columns.map((c) => [c, sample[c]]))]));
        body.set(CONFIG, files.config, CONFIG);
        body.set(WEIGHTS, files.weights, WEIGHTS);
        setProgress({ loaded: 0, total: files.config.size + files.weights.size, events: 0 });
        res = await postWithProgress("/api/adapters", body, (loaded, total) => setProgress((p) => ({ loaded, total, events: (p?.events ?? 0) + 1 })));
      } else {
        const r = await fetch("/api/adapters", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: id || undefined, repo, task: task || undefined }) });
        res = { status: r.status, json: (await r.json().catch(() => ({}))) as { id?: string; error?: string } };
      }
      const ok = res.status >= 200 && res.status < 300 && !!res.json.id;
      setOutcome(ok ? { ok: true, id: res.json.id! } : { ok: false, error: res.json.error ?? `HTTP ${res.status}` });
      if (ok) setChanged((n) => n + 1);
    } catch (err) {
      setOutcome({ ok: false, error: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  const input = "w-full rounded-md border border-slate-300 bg-transparent px-3 py-2 text-sm dark:border-slate-700";
  const pct = progress && progress.total > 0 ? Math.min(100, Math.round((progress.loaded / progress.total) * 100)) : 0;
  return (
    <div className="space-y-10">
      <form onSubmit={submit} className="max-w-xl space-y-4" data-testid="adapter-upload-form">
        <div role="tablist" aria-label="How to add the adapter" className="flex flex-wrap gap-2 text-sm">
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
          <input className={input} value={id} onChange={(e) => setId(e.target.value.toLowerCase())} placeholder="my-sql-adapter" pattern="[a-z0-9][a-z0-9._\-]{0,63}" required={mode === "upload"} aria-invalid={id !== "" && !idOk} data-testid="upload-id" />
          <span className={`text-xs ${id !== "" && !idOk ? "text-red-600 dark:text-red-400" : "text-slate-500"}`}>Lowercase letters, digits, “.”, “_” or “-”. It becomes /adapters/&lt;id&gt;.</span>
        </label>
        {mode === "upload" ? (
          <div className="space-y-2 text-sm">
            <span className="block font-medium">PEFT adapter folder</span>
            <div
              data-testid="upload-dropzone"
              data-dragging={dragging || undefined}
              onDragOver={(e) => {
                e.preventDefault();
                setDragging(true);
              }}
              onDragLeave={() => setDragging(false)}
              onDrop={(e) => {
                e.preventDefault();
                setDragging(false);
                void filesFromDrop(e.dataTransfer).then((f) => setFiles(pickFiles(f)));
              }}
              className={`flex flex-col items-center gap-2 rounded-lg border-2 border-dashed p-6 text-center ${dragging ? "border-brand-600 bg-brand-50 dark:bg-slate-800" : "border-slate-300 dark:border-slate-700"}`}
            >
              <p>Drop the adapter folder here, or</p>
              <div className="flex flex-wrap justify-center gap-2">
                <label className="cursor-pointer rounded-md border border-slate-300 px-3 py-1.5 hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-800">
                  Choose a folder
                  <input type="file" className="sr-only" {...{ webkitdirectory: "", directory: "" }} onChange={(e) => setFiles(pickFiles([...(e.target.files ?? [])]))} data-testid="upload-folder" />
                </label>
                <label className="cursor-pointer rounded-md border border-slate-300 px-3 py-1.5 hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-800">
                  Choose files
                  <input type="file" multiple accept=".json,.safetensors" className="sr-only" onChange={(e) => setFiles(pickFiles([...(e.target.files ?? [])]))} data-testid="upload-files" />
                </label>
              </div>
            </div>
            <span className="block text-xs text-slate-500" data-testid="upload-picked">
              {CONFIG} and {WEIGHTS}, up to 64 MB. {files.config ? "✓ config" : "– config"} · {files.weights ? "✓ weights" : "– weights"}
              {files.ignored > 0 ? ` · ${files.ignored} other file${files.ignored === 1 ? "" : "s"} not sent` : ""}
            </span>
          </div>
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
        {mode === "upload" && (
          <>
            <label className="block text-sm">
              <span className="mb-1 block font-medium">Description (optional)</span>
              <textarea className={input} rows={2} maxLength={2000} value={description} onChange={(e) => setDescription(e.target.value)} data-testid="upload-description" placeholder="What it does, what it was trained on" />
            </label>
            {columns.length > 0 && (
              <fieldset className="space-y-2 text-sm">
                <legend className="mb-1 font-medium">Sample input (optional)</legend>
                {columns.map((c) => (
                  <label key={c} className="block">
                    <span className="mb-1 block font-mono text-xs">{c}</span>
                    <textarea className={input} rows={2} value={sample[c] ?? ""} onChange={(e) => setSample((s) => ({ ...s, [c]: e.target.value }))} data-testid={`upload-sample-${c}`} />
                  </label>
                ))}
                <span className="text-xs text-slate-500">Shown as a one-click example in the playground.</span>
              </fieldset>
            )}
          </>
        )}
        <button type="submit" disabled={busy} className="rounded-md bg-brand-600 px-4 py-2 text-sm font-medium text-white hover:bg-brand-700 disabled:opacity-60" data-testid="upload-submit">
          {busy ? (progress && progress.loaded < progress.total ? "Uploading…" : "Validating…") : mode === "upload" ? "Upload and register" : "Register"}
        </button>
        {mode === "upload" && progress && (
          <div className="space-y-1 text-xs text-slate-600 dark:text-slate-400">
            <progress className="h-2 w-full" value={progress.loaded} max={progress.total || 1} data-testid="upload-progress" data-loaded={progress.loaded} data-total={progress.total} data-events={progress.events} aria-label="Upload progress" />
            <span data-testid="upload-progress-text">
              {pct}% · {(progress.loaded / 1024 / 1024).toFixed(1)} of {(progress.total / 1024 / 1024).toFixed(1)} MB sent
            </span>
          </div>
        )}
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
      <YourAdapters refreshKey={changed} />
    </div>
  );
}
