"use client";
/**
 * "Structured output (JSON schema)": off by default; on, the run carries `response_format` with
 * the schema in the box (the card's, editable) and the worker constrains decoding to it. A schema
 * the worker would refuse is named here and the run waits for a valid one (onProblem).
 */
import { useState } from "react";
import type { GenerationParams } from "../../db/schema/chats";
import { parseSchemaText, type JsonSchema } from "./structured-output";

const pretty = (s: unknown) => JSON.stringify(s, null, 2);

export function StructuredOutputField(props: {
  value: GenerationParams;
  /** the schema the task card implies (null: the card does not expect JSON) */
  cardSchema: JsonSchema | null;
  onChange: (p: GenerationParams) => void;
  onProblem?: (problem: string | null) => void;
}) {
  const { value, cardSchema, onChange, onProblem } = props;
  const rf = value.response_format;
  const current = rf ? (rf.schema ?? { type: "object" }) : (cardSchema ?? { type: "object" });
  const [text, setText] = useState(() => pretty(current));
  const [error, setError] = useState<string | null>(null);
  // a schema set from outside (reset, preset, link) replaces the box's text
  const [synced, setSynced] = useState(() => JSON.stringify(current));
  if (JSON.stringify(current) !== synced && (error === null || !rf)) {
    setSynced(JSON.stringify(current));
    setText(pretty(current));
    setError(null);
  }
  const report = (e: string | null) => {
    setError(e);
    onProblem?.(e);
  };
  const edit = (t: string) => {
    setText(t);
    const parsed = parseSchemaText(t);
    report(parsed.error);
    if (parsed.schema) {
      setSynced(JSON.stringify(parsed.schema));
      onChange({ ...value, response_format: { type: "json_object", schema: parsed.schema } });
    }
  };
  const toggle = (on: boolean) => {
    if (!on) {
      report(null);
      const { response_format: _off, ...rest } = value;
      void _off;
      onChange(rest);
      return;
    }
    const parsed = parseSchemaText(text);
    report(parsed.error);
    onChange({ ...value, response_format: { type: "json_object", schema: parsed.schema ?? current } });
  };
  return (
    <div className="col-span-2 flex flex-col gap-1 text-xs" data-testid="structured-output">
      <label className="flex items-center gap-2">
        <input type="checkbox" data-testid="param-structured" checked={!!rf} onChange={(e) => toggle(e.target.checked)} />
        <span className="font-medium text-zinc-700 dark:text-zinc-300">Structured output (JSON schema)</span>
      </label>
      {rf && (
        <>
          <span className="text-zinc-500">The worker only lets the model write JSON that matches this schema{cardSchema ? " (from the task card’s example)" : ""}.</span>
          <textarea
            data-testid="param-schema"
            aria-label="JSON schema"
            aria-invalid={error !== null}
            rows={7}
            spellCheck={false}
            className={`rounded border bg-white px-2 py-1 font-mono text-xs dark:bg-zinc-900 ${error ? "border-red-500" : "border-zinc-300 dark:border-zinc-700"}`}
            value={text}
            onChange={(e) => edit(e.target.value)}
          />
          {error && (
            <p role="alert" data-testid="schema-error" className="text-red-600">
              Schema not usable: {error}
            </p>
          )}
          {cardSchema && (error !== null || JSON.stringify(rf.schema) !== JSON.stringify(cardSchema)) && (
            <button type="button" className="self-start underline" onClick={() => edit(pretty(cardSchema))}>
              Use the card’s schema
            </button>
          )}
        </>
      )}
    </div>
  );
}
