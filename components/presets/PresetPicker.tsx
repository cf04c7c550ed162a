"use client";
/**
 * The owner's saved playground setups: load one into the form, save the form as a new one (or
 * over the loaded one), rename, delete. The playground decides what a setup holds and how to load it.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type RouterInputs, type RouterOutputs } from "@/trpc/react";

export type Preset = RouterOutputs["presets"]["list"][number];
export type PresetSetup = Omit<RouterInputs["presets"]["create"], "name">;

export function PresetPicker({ current, onLoad }: { current: PresetSetup; onLoad: (p: Preset) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.presets.list.queryOptions());
  const [selected, setSelected] = useState<string>("");
  const [naming, setNaming] = useState<{ kind: "save" | "rename"; name: string } | null>(null);
  // the list is updated from each answer at once (then refetched): the picker never waits on a refetch to show a save
  const listKey = trpc.presets.list.queryKey();
  const apply = (f: (old: Preset[]) => Preset[]) => {
    queryClient.setQueryData(listKey, (old) => f(old ?? []));
    void queryClient.invalidateQueries(trpc.presets.pathFilter());
  };
  const create = useMutation(trpc.presets.create.mutationOptions({ onSuccess: (p) => (apply((old) => [p, ...old]), setSelected(p.id), setNaming(null)) }));
  const update = useMutation(trpc.presets.update.mutationOptions({ onSuccess: (p) => (apply((old) => old.map((x) => (x.id === p.id ? p : x))), setNaming(null)) }));
  const del = useMutation(trpc.presets.delete.mutationOptions({ onSuccess: ({ id }) => (apply((old) => old.filter((x) => x.id !== id)), setSelected("")) }));
  const presets = list.data ?? [];
  const chosen = presets.find((p) => p.id === selected) ?? null;
  const error = create.error ?? update.error ?? del.error;
  const btn = "rounded border border-slate-300 px-2 py-1 text-xs disabled:opacity-40 dark:border-slate-700";

  return (
    <div className="flex flex-col gap-2 rounded-lg border border-slate-200 p-2 dark:border-slate-800" data-testid="presets">
      <label className="flex min-w-0 flex-col gap-1 text-xs">
        <span className="font-medium text-slate-600 dark:text-slate-400">Saved presets</span>
        <select
          data-testid="preset-select"
          // the id only once its option is there: a value with no option yet leaves the DOM on "" for good
          value={chosen ? selected : ""}
          onChange={(e) => setSelected(e.target.value)}
          className="w-full min-w-0 rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
        >
          <option value="">{presets.length ? "Choose a preset…" : "No presets yet: save the form below as one"}</option>
          {presets.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <div className="flex flex-wrap items-center gap-2">
        <button type="button" data-testid="preset-load" className={btn} disabled={!chosen} onClick={() => chosen && onLoad(chosen)}>
          Load
        </button>
        <button type="button" data-testid="preset-save" className={btn} onClick={() => setNaming({ kind: "save", name: "" })}>
          Save as…
        </button>
        <button type="button" data-testid="preset-overwrite" className={btn} disabled={!chosen || update.isPending} title="Save the form over the chosen preset" onClick={() => chosen && update.mutate({ id: chosen.id, setup: current })}>
          Update
        </button>
        <button type="button" data-testid="preset-rename" className={btn} disabled={!chosen} onClick={() => chosen && setNaming({ kind: "rename", name: chosen.name })}>
          Rename
        </button>
        <button
          type="button"
          data-testid="preset-delete"
          className={`${btn} text-red-700 dark:text-red-300`}
          disabled={!chosen || del.isPending}
          onClick={() => chosen && window.confirm(`Delete the preset "${chosen.name}"?`) && del.mutate({ id: chosen.id })}
        >
          Delete
        </button>
      </div>
      {naming && (
        <form
          className="flex flex-wrap gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            const name = naming.name.trim();
            if (!name) return;
            if (naming.kind === "save") create.mutate({ name, ...current });
            else if (chosen) update.mutate({ id: chosen.id, name });
          }}
        >
          <input
            aria-label={naming.kind === "save" ? "Preset name" : "New name"}
            data-testid="preset-name"
            value={naming.name}
            maxLength={100}
            onChange={(e) => setNaming({ ...naming, name: e.target.value })}
            placeholder="A name for this setup"
            className="min-w-0 flex-1 rounded border border-slate-300 px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
            autoFocus
          />
          <button type="submit" data-testid="preset-name-save" disabled={!naming.name.trim() || create.isPending || update.isPending} className="rounded bg-brand-600 px-2 py-1 text-xs text-white disabled:opacity-50">
            {naming.kind === "save" ? "Save" : "Rename"}
          </button>
          <button type="button" className="text-xs" onClick={() => setNaming(null)}>
            Cancel
          </button>
        </form>
      )}
      {error && (
        <p role="alert" className="text-xs text-red-600" data-testid="preset-error">
          {error.message}
        </p>
      )}
    </div>
  );
}
