/**
 * Which tasks the arena can run, and who plays: for each task (an adapter's task card, or the
 * adapter itself when it has none) the adapters of it this worker can run, plus the base model.
 */
import type { CatalogAdapter } from "../db-queries/catalog";
import type { WorkerStatus } from "../inference/client";
import { runnability } from "../inference/runnable";

/** The base model's key in battles and standings (no adapter slug has a parenthesis). */
export const BASE_KEY = "(base)";

export interface Contestant {
  /** adapter slug, or BASE_KEY */
  key: string;
  label: string;
  /** what the worker serves it as; null = the base model */
  adapterId: string | null;
  /** its prompt template (the base model answers the task's) */
  template: string;
}

export interface ArenaTask {
  key: string;
  name: string;
  category: string;
  metricName: string;
  expectedOutputFormat: string | null;
  template: string;
  inputColumns: string[];
  sampleInputs: Record<string, string>[];
  contestants: Contestant[];
}

export const taskKeyOf = (a: Pick<CatalogAdapter, "taskCard" | "slug">) => a.taskCard ?? a.slug;

export function baseLabel(worker: Pick<WorkerStatus, "modelId">): string {
  return worker.modelId ? `Base model (${worker.modelId})` : "Base model";
}

/** Tasks with at least one adapter this worker runs (so every battle has two contestants). */
export function arenaTasks(adapters: CatalogAdapter[], worker: WorkerStatus): ArenaTask[] {
  const groups = new Map<string, CatalogAdapter[]>();
  for (const a of adapters) {
    if (!a.promptTemplate || !runnability(a, worker).runnable) continue;
    const key = taskKeyOf(a);
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  return [...groups].map(([key, group]) => {
    // the task's own adapter (its card's slug) speaks for the task; else the first one
    const lead = group.find((a) => a.slug === key) ?? group[0]!;
    return {
      key,
      name: lead.task || lead.displayName,
      category: lead.category,
      metricName: lead.metricName,
      expectedOutputFormat: lead.expectedOutputFormat,
      template: lead.promptTemplate!,
      inputColumns: lead.inputColumns,
      sampleInputs: lead.sampleInputs,
      contestants: [
        ...group.map((a) => ({ key: a.slug, label: a.displayName, adapterId: a.adapterId, template: a.promptTemplate! })),
        { key: BASE_KEY, label: baseLabel(worker), adapterId: null, template: lead.promptTemplate! },
      ],
    };
  });
}

/** Two different contestants in random panes; `random` returns [0, 1). */
export function pickPair(contestants: Contestant[], random: () => number): [Contestant, Contestant] {
  if (contestants.length < 2) throw new Error("a battle needs two contestants");
  const i = Math.floor(random() * contestants.length);
  let j = Math.floor(random() * (contestants.length - 1));
  if (j >= i) j++;
  return [contestants[i]!, contestants[j]!];
}
