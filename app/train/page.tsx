import fs from "node:fs";
import path from "node:path";
import type { Metadata } from "next";
import { TrainView, type Recipe } from "@/components/train/train-view";
import { parseConfigText, validateConfig } from "@/inference/train/config";
import { HydrateClient, prefetch, trpc } from "@/trpc/server";

export const metadata: Metadata = { title: "Train", description: "Fine-tune a LoRA adapter of the served base model on a dataset, watch the loss, and compare it with the base model." };
export const dynamic = "force-dynamic";

const RECIPES_DIR = "inference/train/recipes";

/**
 * The form's defaults: the recipes the bundled adapters were trained with (data/demo/README.md),
 * `inference/train/recipes/<task>.yaml`, read by the engine's own validator. A task's own recipe
 * fills in the form when that task is picked; the first one found is the default for the others
 * and for uploads. None readable: the form starts from the engine's defaults.
 */
function loadRecipes(): Recipe[] {
  const dir = path.resolve(/*turbopackIgnore: true*/ process.cwd(), RECIPES_DIR);
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return [];
  }
  const out: Recipe[] = [];
  for (const f of files) {
    try {
      const c = validateConfig(parseConfigText(fs.readFileSync(path.join(dir, f), "utf8"), f), {}, process.cwd());
      const { target_modules, r, alpha, dropout } = c.adapter;
      out.push({ task: f.replace(/\.ya?ml$/, ""), file: `${RECIPES_DIR}/${f}`, adapter: { r, alpha, dropout, target_modules }, trainer: c.trainer });
    } catch (err) {
      console.error(`[train] recipe ${f} skipped: ${(err as Error).message}`);
    }
  }
  return out;
}

export default async function TrainPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const q = (await searchParams).run;
  const run = Number(Array.isArray(q) ? q[0] : q);
  const runId = Number.isInteger(run) && run >= 1 && run <= 2_147_483_647 ? run : null;
  prefetch(trpc.train.options.queryOptions());
  prefetch(trpc.train.datasets.queryOptions());
  prefetch(trpc.train.runs.queryOptions());
  if (runId !== null) prefetch(trpc.train.run.queryOptions({ id: runId }));
  return (
    <HydrateClient>
      <TrainView runId={runId} recipes={loadRecipes()} />
    </HydrateClient>
  );
}
