"use client";
/**
 * Step 1 of /train: the dataset. A demo task's train split in one click (its card brings the
 * prompt template and output column, and its test split scores the adapter afterwards), or an
 * upload of a CSV / JSONL file, optionally gzipped, up to 50 MB, sent with XMLHttpRequest (fetch
 * has no upload progress) to POST /api/train/datasets.
 */
import { useState } from "react";
import { postWithProgress } from "@/components/post-with-progress";
import { Bar } from "./bar";

export type DatasetChoice = { kind: "demo"; task: string } | { kind: "upload"; id: string };

export interface DemoOption {
  task: string;
  name: string;
  rows: number | null;
  hasTestSplit: boolean;
}

export interface UploadOption {
  id: string;
  fileName: string;
  rows: number;
  bytes: number;
}

const ACCEPT = /\.(csv|jsonl|json|ndjson)(\.gz)?$/i;
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
/** 312 B, 4.2 kB, 1.3 MB */
const size = (n: number) => (n < 1000 ? `${n} B` : n < 1e6 ? `${(n / 1000).toFixed(1)} kB` : mb(n));

export function DatasetPicker({
  demo,
  uploads,
  value,
  onChange,
  onUploaded,
  onRemove,
  maxBytes,
  error,
}: {
  demo: DemoOption[];
  uploads: UploadOption[];
  value: DatasetChoice | null;
  onChange: (d: DatasetChoice) => void;
  /** an upload finished: refetch the list, then select it */
  onUploaded: (id: string) => void;
  /** remove one of the caller's uploads */
  onRemove: (id: string) => void;
  maxBytes: number;
  /** a refusal about the dataset (from preview or start) */
  error: string | null;
}) {
  const [progress, setProgress] = useState<{ loaded: number; total: number; name: string } | null>(null);
  const [uploadError, setUploadError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function upload(file: File | undefined) {
    setUploadError(null);
    if (!file) return;
    if (!ACCEPT.test(file.name)) return setUploadError(`dataset: ${file.name} is not .csv or .jsonl (optionally .gz)`);
    if (file.size > maxBytes) return setUploadError(`dataset: ${file.name} is ${mb(file.size)}, over the ${mb(maxBytes)} limit`);
    setBusy(true);
    setProgress({ loaded: 0, total: file.size, name: file.name });
    try {
      const body = new FormData();
      body.set("file", file, file.name);
      const res = await postWithProgress("/api/train/datasets", body, (loaded, total) => setProgress({ loaded, total, name: file.name }));
      if (res.status >= 200 && res.status < 300 && res.json.id) {
        // a small body may end without a progress event: the answer says it all arrived
        setProgress({ loaded: file.size, total: file.size, name: file.name });
        onUploaded(res.json.id);
      } else {
        setProgress(null);
        setUploadError(res.json.error ?? `dataset: the upload was refused (HTTP ${res.status})`);
      }
    } catch (err) {
      setUploadError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const chip = (active: boolean) =>
    `w-full rounded-lg border px-3 py-2 text-left text-sm ${
      active ? "border-brand-600 bg-brand-50 ring-1 ring-brand-600 dark:border-brand-500 dark:bg-slate-800" : "border-slate-200 hover:border-slate-300 dark:border-slate-800 dark:hover:border-slate-700"
    }`;
  const pct = progress && progress.total > 0 ? Math.min(100, Math.round((progress.loaded / progress.total) * 100)) : 0;
  return (
    <div className="space-y-4" data-testid="train-dataset">
      <div>
        <h3 className="mb-2 text-sm font-medium">A demo task’s train split</h3>
        <ul className="grid grid-cols-1 gap-2 sm:grid-cols-2" role="list">
          {demo.map((d) => {
            const active = value?.kind === "demo" && value.task === d.task;
            return (
              <li key={d.task}>
                <button type="button" className={chip(active)} aria-pressed={active} onClick={() => onChange({ kind: "demo", task: d.task })} data-testid={`train-demo-${d.task}`}>
                  <span className="block font-medium leading-snug">{d.name}</span>
                  <span className="block text-xs text-slate-500 dark:text-slate-400">
                    <code>{d.task}</code>
                    {d.rows !== null && ` · ${d.rows.toLocaleString("en-US")} rows`}
                    {d.hasTestSplit && " · scored on its test split"}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      </div>

      <div className="space-y-2">
        <h3 className="text-sm font-medium">Or your own file</h3>
        {uploads.length > 0 && (
          <ul className="grid grid-cols-1 gap-2 sm:grid-cols-2" role="list" data-testid="train-uploads">
            {uploads.map((u) => {
              const active = value?.kind === "upload" && value.id === u.id;
              return (
                <li key={u.id} className="relative">
                  <button type="button" className={`${chip(active)} pr-9`} aria-pressed={active} onClick={() => onChange({ kind: "upload", id: u.id })} data-testid="train-upload-choice">
                    <span className="block break-all font-medium leading-snug">{u.fileName}</span>
                    <span className="block text-xs text-slate-500 dark:text-slate-400">
                      {u.rows.toLocaleString("en-US")} rows · {size(u.bytes)}
                    </span>
                  </button>
                  <button
                    type="button"
                    onClick={() => onRemove(u.id)}
                    aria-label={`Remove ${u.fileName}`}
                    title={`Remove ${u.fileName} (runs that used it keep their record)`}
                    className="absolute right-1.5 top-1.5 rounded px-1.5 text-slate-400 hover:bg-slate-100 hover:text-red-600 dark:hover:bg-slate-800 dark:hover:text-red-400"
                    data-testid="train-upload-remove"
                  >
                    ×
                  </button>
                </li>
              );
            })}
          </ul>
        )}
        <label className="flex cursor-pointer flex-col items-center gap-1 rounded-lg border-2 border-dashed border-slate-300 p-4 text-center text-sm hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-900">
          <span className="font-medium text-brand-700 dark:text-brand-100">{busy ? "Uploading…" : "Upload a CSV or JSONL file"}</span>
          <span className="text-xs text-slate-500">.csv (with a header row) or .jsonl, optionally .gz, up to {Math.round(maxBytes / 1e6)} MB</span>
          <input
            type="file"
            className="sr-only"
            accept=".csv,.jsonl,.json,.ndjson,.gz"
            disabled={busy}
            onChange={(e) => {
              void upload(e.target.files?.[0]);
              e.target.value = "";
            }}
            data-testid="train-upload-input"
          />
        </label>
        {progress && (
          <div className="space-y-1 text-xs text-slate-600 dark:text-slate-400">
            <Bar value={progress.loaded} max={progress.total || 1} label="Upload progress" testId="train-upload-progress" data={{ "data-loaded": progress.loaded, "data-total": progress.total }} />
            <span className="block break-all" data-testid="train-upload-progress-text">
              {progress.name}: {pct}% · {size(progress.loaded)} of {size(progress.total)} sent
              {busy && pct >= 100 ? " · reading the rows…" : ""}
            </span>
          </div>
        )}
        {(uploadError ?? error) && (
          <p role="alert" className="rounded-md border border-red-300 bg-red-50 p-2 text-sm text-red-700 dark:border-red-900 dark:bg-red-950 dark:text-red-200" data-testid="train-dataset-error">
            {uploadError ?? error}
          </p>
        )}
      </div>
    </div>
  );
}
