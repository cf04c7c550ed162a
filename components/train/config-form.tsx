"use client";
/**
 * The config part of the /train form, in LoRA Land's shape: prompt_template and output_column,
 * then `adapter:` and `trainer:` groups with the YAML key names as labels (so what is typed here
 * reads the same as a config file for `npm run train`). A field the server (or the number check)
 * refused is marked and shows the message under it.
 */
import { ADAPTER_FIELDS, HELP, LABEL, PROJECTIONS, TRAINER_FIELDS, type ConfigDraft, type FieldError, type TrainerField } from "./config-state";

export const inputClass =
  "w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm dark:border-slate-700 dark:bg-slate-950 aria-[invalid=true]:border-red-500 dark:aria-[invalid=true]:border-red-500";

function FieldMessage({ field, error }: { field: string; error: FieldError | null }) {
  if (error?.field === field) {
    return (
      <span className="block text-xs text-red-600 dark:text-red-400" data-testid="field-error" data-field={field}>
        {error.message}
      </span>
    );
  }
  return HELP[field] ? <span className="block text-xs text-slate-500 dark:text-slate-400">{HELP[field]}</span> : null;
}

function NumberField({ field, value, onChange, error, step, placeholder }: { field: string; value: string; onChange: (v: string) => void; error: FieldError | null; step?: string; placeholder?: string }) {
  const id = `cfg-${field.replace(".", "-")}`;
  return (
    <label className="block min-w-0 text-sm" htmlFor={id}>
      <span className="mb-1 block font-mono text-xs text-slate-700 dark:text-slate-300">{LABEL[field] ?? field}</span>
      <input
        id={id}
        className={inputClass}
        inputMode="decimal"
        value={value}
        placeholder={placeholder}
        step={step}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error?.field === field}
        data-testid={`cfg-${field}`}
      />
      <FieldMessage field={field} error={error} />
    </label>
  );
}

export function ConfigForm({
  draft,
  onChange,
  error,
  columns,
  baseModel,
}: {
  draft: ConfigDraft;
  onChange: (d: ConfigDraft) => void;
  error: FieldError | null;
  /** the dataset's columns (for the placeholders and the output column), when known */
  columns: string[];
  baseModel: string;
}) {
  const setAdapter = (k: string, v: unknown) => onChange({ ...draft, adapter: { ...draft.adapter, [k]: v } });
  const setTrainer = (k: TrainerField, v: string) => onChange({ ...draft, trainer: { ...draft.trainer, [k]: v } });
  const insert = (c: string) => onChange({ ...draft, prompt_template: `${draft.prompt_template}{${c}}` });
  const allModules = draft.adapter.target_modules.length === PROJECTIONS.length;
  return (
    <div className="space-y-5" data-testid="train-config">
      <dl className="grid grid-cols-[max-content_1fr] gap-x-4 text-sm">
        <dt className="font-mono text-xs leading-5 text-slate-500">base_model</dt>
        <dd className="min-w-0 break-words" data-testid="train-base-model">
          {baseModel} <span className="text-slate-500">(the model this worker serves; frozen, only LoRA A/B train)</span>
        </dd>
      </dl>

      <label className="block text-sm" htmlFor="cfg-prompt_template">
        <span className="mb-1 block font-mono text-xs text-slate-700 dark:text-slate-300">prompt_template</span>
        <textarea
          id="cfg-prompt_template"
          className={`${inputClass} min-h-24 font-mono field-sizing-content`}
          rows={4}
          value={draft.prompt_template}
          onChange={(e) => onChange({ ...draft, prompt_template: e.target.value })}
          aria-invalid={error?.field === "prompt_template"}
          data-testid="cfg-prompt_template"
          spellCheck={false}
        />
        <FieldMessage field="prompt_template" error={error} />
      </label>
      {columns.some((c) => c !== draft.output_column) && (
        <div className="flex flex-wrap items-center gap-1.5 text-xs" data-testid="train-columns">
          <span className="text-slate-500">Columns:</span>
          {columns.filter((c) => c !== draft.output_column).map((c) => (
            <button
              key={c}
              type="button"
              onClick={() => insert(c)}
              title={`Add {${c}} to the template`}
              className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-slate-700 hover:bg-slate-200 dark:bg-slate-800 dark:text-slate-200 dark:hover:bg-slate-700"
            >
              {`{${c}}`}
            </button>
          ))}
        </div>
      )}

      <label className="block text-sm" htmlFor="cfg-output_column">
        <span className="mb-1 block font-mono text-xs text-slate-700 dark:text-slate-300">output_column</span>
        {columns.length > 0 ? (
          <select id="cfg-output_column" className={inputClass} value={draft.output_column} onChange={(e) => onChange({ ...draft, output_column: e.target.value })} aria-invalid={error?.field === "output_column"} data-testid="cfg-output_column">
            {!columns.includes(draft.output_column) && <option value={draft.output_column}>{draft.output_column || "—"}</option>}
            {columns.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        ) : (
          <input id="cfg-output_column" className={inputClass} value={draft.output_column} onChange={(e) => onChange({ ...draft, output_column: e.target.value })} aria-invalid={error?.field === "output_column"} data-testid="cfg-output_column" />
        )}
        <FieldMessage field="output_column" error={error} />
      </label>

      <fieldset className="space-y-3 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
        <legend className="px-1 font-mono text-xs font-medium text-slate-700 dark:text-slate-300">adapter: LoRA</legend>
        <div className="grid grid-cols-2 gap-3 sm:grid-cols-3">
          {ADAPTER_FIELDS.map((k) => (
            <NumberField key={k} field={`adapter.${k}`} value={draft.adapter[k]} onChange={(v) => setAdapter(k, v)} error={error} />
          ))}
        </div>
        <div className="text-sm">
          <span className="mb-1 flex flex-wrap items-baseline gap-x-3 font-mono text-xs text-slate-700 dark:text-slate-300">
            target_modules
            <button type="button" className="font-sans text-brand-700 hover:underline dark:text-brand-100" onClick={() => setAdapter("target_modules", allModules ? ["q_proj", "v_proj"] : [...PROJECTIONS])} data-testid="cfg-target-all">
              {allModules ? "only q_proj, v_proj" : "all seven"}
            </button>
          </span>
          <div className="flex flex-wrap gap-x-3 gap-y-1" role="group" aria-label="target_modules">
            {PROJECTIONS.map((p) => (
              <label key={p} className="inline-flex items-center gap-1.5 font-mono text-xs">
                <input
                  type="checkbox"
                  checked={draft.adapter.target_modules.includes(p)}
                  onChange={(e) => setAdapter("target_modules", e.target.checked ? [...draft.adapter.target_modules, p] : draft.adapter.target_modules.filter((x) => x !== p))}
                  data-testid={`cfg-module-${p}`}
                />
                {p}
              </label>
            ))}
          </div>
          <FieldMessage field="adapter.target_modules" error={error} />
        </div>
      </fieldset>

      <fieldset className="space-y-3 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
        <legend className="px-1 font-mono text-xs font-medium text-slate-700 dark:text-slate-300">trainer: AdamW, warmup + cosine</legend>
        <div className="grid grid-cols-2 gap-3 sm:grid-cols-3">
          {TRAINER_FIELDS.map((k) => (
            <NumberField key={k} field={`trainer.${k}`} value={draft.trainer[k]} onChange={(v) => setTrainer(k, v)} error={error} />
          ))}
          <NumberField field="trainer.max_examples" value={draft.trainer.max_examples} onChange={(v) => setTrainer("max_examples", v)} error={error} placeholder="all rows" />
        </div>
      </fieldset>
    </div>
  );
}
