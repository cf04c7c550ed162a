/**
 * `npm run train -- --config cfg.yaml [--model DIR] [--data FILE] [--out DIR] [--fresh] [--quiet]`
 *
 * Trains a LoRA adapter on the base model (inference/train/) and writes a PEFT folder to the
 * output directory. Flags override the config's base_model, dataset and output_dir before it is
 * validated. A checkpoint under <out>/checkpoint/ is resumed automatically (--fresh ignores it).
 * Ctrl-C stops between steps and saves a checkpoint (tsx force-kills a child that does not answer
 * the signal in time, e.g. in a very long step: the run then resumes from the last periodic one).
 * Progress goes to stderr; the last stdout line is one JSON object: adapter_dir, train_loss,
 * val_loss, tokens_per_s, seconds, steps, flops_per_s, ...
 */
import { parseArgs } from "node:util";
import { EngineError } from "../inference/errors";
import { loadConfig } from "../inference/train/config";
import { TrainCancelled, train, type TrainProgress } from "../inference/train/trainer";

const USAGE = `usage: npm run train -- --config cfg.yaml [--model DIR] [--data FILE] [--out DIR] [--fresh] [--quiet]
  --config  training config, YAML or JSON (base_model, dataset, prompt_template, output_column,
            adapter: {r, alpha, dropout, target_modules}, trainer: {epochs, learning_rate, batch_size,
            gradient_accumulation, warmup_steps, weight_decay, max_length, validation_split, seed, ...})
  --model   base model directory (overrides base_model)
  --data    dataset, .csv or .jsonl, optionally .gz (overrides dataset)
  --out     where the PEFT adapter folder is written (overrides output_dir)
  --fresh   ignore a checkpoint left in the output folder instead of resuming from it
  --quiet   no progress lines`;

const err = (line: string) => process.stderr.write(`${line}\n`);

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${s.toFixed(0)}s`;
}

async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" }, model: { type: "string" }, data: { type: "string" }, out: { type: "string" },
        fresh: { type: "boolean" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (typeof values.config !== "string") {
    err(`--config is required\n${USAGE}`);
    return 2;
  }
  const controller = new AbortController();
  process.once("SIGINT", () => {
    err("stopping after this step (checkpoint kept; run the same command to resume)...");
    controller.abort();
  });
  try {
    const cfg = loadConfig(values.config, { model: values.model as string | undefined, data: values.data as string | undefined, out: values.out as string | undefined });
    let lastPrint = 0;
    const onProgress = (p: TrainProgress) => {
      const now = performance.now();
      if (values.quiet || (now - lastPrint < 2000 && p.step !== p.total_steps && p.val_loss === undefined)) return;
      lastPrint = now;
      err(`step ${p.step}/${p.total_steps}  epoch ${p.epoch.toFixed(2)}  loss ${p.loss.toFixed(4)}` +
        (p.val_loss !== undefined ? `  val ${p.val_loss.toFixed(4)}` : "") +
        `  lr ${p.lr.toExponential(2)}  ${Math.round(p.tokens_per_s)} tok/s  ${fmtTime(p.seconds)} elapsed, eta ${fmtTime(p.eta_s)}`);
    };
    const result = await train(cfg, { onProgress, onLog: err, signal: controller.signal, fresh: values.fresh === true });
    const { curve, dataset, ...summary } = result;
    err(`done: ${result.steps} steps in ${fmtTime(result.seconds)}, ${Math.round(result.tokens_per_s)} tok/s, ` +
      `${(result.flops_per_s / 1e9).toFixed(1)} GFLOP/s (formula), adapter in ${result.adapter_dir}`);
    process.stdout.write(`${JSON.stringify({ ...summary, dataset, curve_points: curve.length })}\n`);
    return 0;
  } catch (e) {
    if (e instanceof TrainCancelled) {
      err(e.message);
      return 130;
    }
    if (e instanceof EngineError) {
      err(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  err(`error: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
