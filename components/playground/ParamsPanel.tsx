"use client";
/** Sampling parameters with the adapter's defaults and a reset. */
import type { GenerationParams } from "../../db/schema/chats";
import { StructuredOutputField } from "./StructuredOutputField";
import type { JsonSchema } from "./structured-output";

export const DEFAULT_PARAMS: GenerationParams = { max_new_tokens: 64, temperature: 0, top_p: 1, top_k: 0, repetition_penalty: 1 };

interface Props {
  value: GenerationParams;
  defaults: GenerationParams;
  onChange: (p: GenerationParams) => void;
  /** the worker's max_new_tokens limit */
  maxNewTokens?: number;
  /** the task card's JSON schema: offers structured output (also offered while a link's schema is on) */
  cardSchema?: JsonSchema | null;
  /** what is wrong with the typed schema (the run waits for a usable one), null when nothing */
  onSchemaProblem?: (problem: string | null) => void;
}

function NumberField(props: {
  label: string;
  name: keyof GenerationParams;
  value: number | undefined;
  min: number;
  max: number;
  step: number;
  hint?: string;
  onChange: (v: number | undefined) => void;
}) {
  return (
    <label className="flex flex-col gap-1 text-xs">
      <span className="flex justify-between font-medium text-zinc-700 dark:text-zinc-300">
        {props.label}
        {props.hint && <span className="font-normal text-zinc-500">{props.hint}</span>}
      </span>
      <input
        type="number"
        name={props.name}
        data-testid={`param-${props.name}`}
        className="rounded border border-zinc-300 bg-white px-2 py-1 text-sm dark:border-zinc-700 dark:bg-zinc-900"
        value={props.value ?? ""}
        min={props.min}
        max={props.max}
        step={props.step}
        onChange={(e) => props.onChange(e.target.value === "" ? undefined : Number(e.target.value))}
      />
    </label>
  );
}

export function ParamsPanel({ value, defaults, onChange, maxNewTokens = 1024, cardSchema = null, onSchemaProblem }: Props) {
  const set = (k: keyof GenerationParams) => (v: number | undefined) => onChange({ ...value, [k]: v } as GenerationParams);
  const changed = JSON.stringify(value) !== JSON.stringify(defaults);
  return (
    <fieldset className="grid grid-cols-2 gap-3 rounded-lg border border-zinc-200 p-3 dark:border-zinc-800" aria-label="Parameters">
      <legend className="px-1 text-sm font-semibold">Parameters</legend>
      <NumberField label="temperature" name="temperature" value={value.temperature} min={0} max={2} step={0.05} hint="0 = greedy" onChange={set("temperature")} />
      <NumberField label="top_p" name="top_p" value={value.top_p} min={0.01} max={1} step={0.05} onChange={set("top_p")} />
      <NumberField label="top_k" name="top_k" value={value.top_k} min={0} max={1000} step={1} hint="0 = off" onChange={set("top_k")} />
      <NumberField label="max_new_tokens" name="max_new_tokens" value={value.max_new_tokens} min={1} max={maxNewTokens} step={1} onChange={(v) => set("max_new_tokens")(v ?? 1)} />
      <NumberField label="repetition_penalty" name="repetition_penalty" value={value.repetition_penalty} min={0.01} max={10} step={0.05} onChange={set("repetition_penalty")} />
      <NumberField label="seed" name="seed" value={value.seed} min={0} max={2 ** 31 - 1} step={1} hint="empty = random" onChange={set("seed")} />
      <label className="col-span-2 flex flex-col gap-1 text-xs">
        <span className="font-medium text-zinc-700 dark:text-zinc-300">stop sequences (one per line)</span>
        <textarea
          data-testid="param-stop"
          rows={2}
          className="rounded border border-zinc-300 bg-white px-2 py-1 font-mono text-sm dark:border-zinc-700 dark:bg-zinc-900"
          value={(value.stop ?? []).join("\n")}
          onChange={(e) => onChange({ ...value, stop: e.target.value === "" ? [] : e.target.value.split("\n") })}
        />
      </label>
      <label className="col-span-2 flex items-center gap-2 text-xs">
        <input type="checkbox" data-testid="param-ignore_eos" checked={!!value.ignore_eos} onChange={(e) => onChange({ ...value, ignore_eos: e.target.checked || undefined })} />
        keep going past the end-of-sequence token (ignore EOS)
      </label>
      {(cardSchema || value.response_format) && <StructuredOutputField value={value} cardSchema={cardSchema} onChange={onChange} onProblem={onSchemaProblem} />}
      <button
        type="button"
        data-testid="params-reset"
        disabled={!changed}
        onClick={() => onChange(defaults)}
        className="col-span-2 rounded border border-zinc-300 px-2 py-1 text-sm disabled:opacity-40 dark:border-zinc-700"
      >
        Reset to the adapter&apos;s defaults
      </button>
    </fieldset>
  );
}
