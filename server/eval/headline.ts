/**
 * Which eval results may become the catalog's headline ("measured here") figures, and on which
 * task an adapter may be evaluated:
 * - an adapter is evaluated on its own task card only (bundled: the card of its slug; uploaded:
 *   the card chosen at upload), so a run of another task cannot stand for its score;
 * - the headline comes only from a run over the full test split; a run started by the admin (or
 *   the operator's `npm run eval`) sets it, anyone else's full run waits for the admin to pick it.
 */
import type { AdapterRow } from "../db-queries/catalog";
import { DEFAULT_TASKS_DIR, loadTaskCards, loadTestExamples, type TaskCard } from "./tasks";

/** The card an adapter is evaluated on, or null when it has none. */
export function adapterCard(adapter: Pick<AdapterRow, "slug" | "taskCard" | "task" | "promptTemplate" | "collection">, cards: TaskCard[] = loadTaskCards()): TaskCard | null {
  if (adapter.taskCard) return cards.find((c) => c.slug === adapter.taskCard) ?? null;
  // user adapters from before task_card was stored: the card whose name and template they copied
  if (adapter.collection === "user") return cards.find((c) => c.name === adapter.task && c.prompt_template === adapter.promptTemplate) ?? null;
  return null;
}

const splitSizes = new Map<string, number>();

/** Rows in a card's test split. */
export function fullSplitSize(card: TaskCard, tasksDir = DEFAULT_TASKS_DIR): number {
  const key = `${tasksDir}\0${card.slug}`;
  let n = splitSizes.get(key);
  if (n === undefined) {
    n = loadTestExamples(card, { tasksDir }).length;
    splitSizes.set(key, n);
  }
  return n;
}

/** Is this result of a run over the card's whole test split? */
export function isFullRun(run: { exampleLimit: number | null }, result: { n: number }, card: TaskCard, tasksDir?: string): boolean {
  return run.exampleLimit === null && result.n === fullSplitSize(card, tasksDir);
}
