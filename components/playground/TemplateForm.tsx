"use client";
/** One field per template column, sample inputs as chips, and the prompt as it will be sent. */
import { renderTemplate, templateColumns, TemplateError } from "./template";

interface Props {
  template: string;
  inputs: Record<string, string>;
  onChange: (inputs: Record<string, string>) => void;
  samples: Record<string, string>[];
  /** the fields to ask for (compare: every pane's template's); default: this template's */
  columns?: string[];
  /** token count of the rendered prompt (worker /tokenize), null while unknown */
  tokenCount: number | null;
}

export function renderOrError(template: string, inputs: Record<string, string>): { prompt: string; error: string | null } {
  try {
    const filled = Object.fromEntries(templateColumns(template).map((c) => [c, inputs[c] ?? ""]));
    return { prompt: renderTemplate(template, filled), error: null };
  } catch (e) {
    return { prompt: "", error: e instanceof TemplateError ? e.message : String(e) };
  }
}

/** The template's fields still empty: Run waits for them (an empty field renders a prompt the adapter never saw in training). */
export function missingFields(template: string, inputs: Record<string, string>): string[] {
  try {
    return templateColumns(template).filter((c) => !(inputs[c] ?? "").trim());
  } catch {
    return [];
  }
}

export function TemplateForm({ template, inputs, onChange, samples, tokenCount, columns: askFor }: Props) {
  let columns: string[] = [];
  let templateError: string | null = null;
  try {
    columns = askFor ?? templateColumns(template);
  } catch (e) {
    templateError = (e as Error).message;
  }
  const { prompt } = renderOrError(template, inputs);
  return (
    <div className="flex flex-col gap-3">
      {samples.length > 0 && (
        <div className="flex flex-wrap gap-2" aria-label="Sample inputs">
          {samples.map((s, i) => (
            <button
              key={i}
              type="button"
              data-testid="sample-chip"
              onClick={() => onChange({ ...s })}
              className="max-w-[16rem] truncate rounded-full border border-indigo-300 bg-indigo-50 px-3 py-1 text-xs text-indigo-800 hover:bg-indigo-100 dark:border-indigo-700 dark:bg-indigo-950 dark:text-indigo-200"
              title={Object.values(s).join(" · ")}
            >
              Sample {i + 1}: {Object.values(s)[0]?.slice(0, 40)}
            </button>
          ))}
        </div>
      )}
      {templateError && <p role="alert" className="text-sm text-red-600">Template error: {templateError}</p>}
      {columns.map((c) => (
        <label key={c} className="flex flex-col gap-1 text-sm">
          <span className="font-mono text-xs font-medium text-zinc-600 dark:text-zinc-400">{`{${c}}`}</span>
          <textarea
            name={c}
            data-testid={`input-${c}`}
            rows={(inputs[c] ?? "").length > 120 ? 5 : 2}
            value={inputs[c] ?? ""}
            onChange={(e) => onChange({ ...inputs, [c]: e.target.value })}
            className="rounded border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-700 dark:bg-zinc-900"
          />
        </label>
      ))}
      <details className="rounded border border-zinc-200 dark:border-zinc-800" open>
        <summary className="cursor-pointer px-2 py-1 text-xs text-zinc-600 dark:text-zinc-400">
          Rendered prompt · <span data-testid="prompt-token-count">{tokenCount === null ? "…" : `${tokenCount} tokens`}</span>
        </summary>
        <pre data-testid="rendered-prompt" className="max-h-48 overflow-auto whitespace-pre-wrap px-2 py-1 font-mono text-xs">
          {prompt}
        </pre>
      </details>
    </div>
  );
}
