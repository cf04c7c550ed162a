/**
 * The payload a finished command-line run hands to the running web app (POST /api/eval/ingest)
 * when the app owns the PGlite data directory. Validated here, stored with ingestEvalRun.
 */
import { z } from "zod";
import type { Db } from "../../db/client";
import { LoraLandError } from "../errors";
import { getCatalogAdapter } from "../db-queries/catalog";
import { adapterCard, isFullRun } from "./headline";
import { METRICS } from "./metrics";
import { loadTaskCards } from "./tasks";

/**
 * These figures are stored in Postgres `real` (float4) columns, which hold 0 or magnitudes from
 * about 1.2e-38 to 3.4e38: anything else failed the insert as a 500 (the tRPC fuzzer sent 5e-324).
 */
const real4 = (n: z.ZodNumber) => n.refine((v) => v === 0 || (Math.abs(v) >= 1.2e-38 && Math.abs(v) <= 3.4e38), { message: "must be 0 or between 1.2e-38 and 3.4e38 (stored as a 4-byte real)" });
/** A date Postgres' timestamp takes as the driver writes it: a five- or six-digit year (ISO "+253305-…") failed the insert as a 500. */
const storableDate = z.coerce.date().refine((d) => d.getUTCFullYear() >= 1900 && d.getUTCFullYear() <= 9999, { message: "must be a date between the years 1900 and 9999" });
const score = real4(z.number().min(0).max(1));
const ms = real4(z.number().min(0));

export const ingestExampleSchema = z.object({
  index: z.number().int().min(0),
  inputs: z.record(z.string(), z.string()),
  reference: z.string(),
  prediction: z.string(),
  basePrediction: z.string().nullable(),
  score,
  baseScore: score.nullable(),
  latencyMs: ms,
  baseLatencyMs: ms.nullable(),
});

export const ingestResultSchema = z.object({
  slug: z.string().min(1).max(200),
  /** the task card it was evaluated on (default: the adapter's own) */
  task: z.string().min(1).max(200).optional(),
  adapterId: z.string().min(1).max(200),
  metric: z.enum(METRICS as [string, ...string[]]),
  n: z.number().int().min(0),
  fineTuned: score,
  base: score.nullable(),
  examples: z.array(ingestExampleSchema).max(100_000),
});

export const ingestRunSchema = z.object({
  modelId: z.string().min(1).max(200),
  workerUrl: z.string().max(2000),
  protocol: z.enum(["lorax", "openai"]),
  adapters: z.array(z.string()).max(1000),
  exampleLimit: z.number().int().min(1).nullable(),
  concurrency: z.number().int().min(1),
  total: z.number().int().min(0),
  startedAt: storableDate,
  finishedAt: storableDate,
  wallMs: ms,
  requestsPerSecond: real4(z.number().min(0)),
  throughput: z
    .object({
      perAdapter: z.number().int(),
      adapters: z.number().int(),
      concurrency: z.number().int(),
      concurrentExamplesPerSecond: z.number(),
      sequentialExamplesPerSecond: z.number(),
    })
    .nullable(),
  results: z.array(ingestResultSchema).max(1000),
});

export type IngestRun = z.infer<typeof ingestRunSchema>;

/** The path of the app's ingest route; GET on it says which data directory the app owns. */
export const INGEST_PATH = "/api/eval/ingest";

export class IngestRefused extends LoraLandError {
  constructor(message: string) {
    super("UNPROCESSABLE_CONTENT", message);
    this.name = "IngestRefused";
  }
}

/**
 * Check a run against the catalog before it is stored: an adapter in the catalog must have been
 * evaluated on its own task card with that card's metric. Returns the slugs whose results may
 * become headline figures (full test split); throws IngestRefused naming the result otherwise.
 */
export async function checkIngestRun(db: Db, run: Pick<IngestRun, "exampleLimit" | "results">): Promise<string[]> {
  const cards = loadTaskCards();
  const headline: string[] = [];
  for (const [i, r] of run.results.entries()) {
    const adapter = await getCatalogAdapter(db, { slug: r.slug });
    if (!adapter) continue; // not in the catalog (a folder evaluated from the command line): history only
    const card = adapterCard(adapter, cards);
    if (!card) throw new IngestRefused(`results.${i}.slug: "${r.slug}" has no task card to be evaluated on`);
    if ((r.task ?? card.slug) !== card.slug) throw new IngestRefused(`results.${i}.task: "${r.slug}" is evaluated on task "${card.slug}", not "${r.task}"`);
    if (r.metric !== card.metric) throw new IngestRefused(`results.${i}.metric: task "${card.slug}" is scored by ${card.metric}, not ${r.metric}`);
    if (isFullRun(run, r, card)) headline.push(r.slug);
  }
  return headline;
}
