/**
 * A training run: config → dataset → LoRA on the frozen base → PEFT folder. Reproducible from
 * the seed (LoRA init, validation split, each epoch's order and every dropout mask come from
 * streams derived from it), checkpointed under the output folder, resumable.
 *
 * Steps: an epoch is ceil(rows / batch_size) micro-batches; gradient_accumulation micro-batches
 * make one optimizer step (an epoch's last step may have fewer). The loss of a step is the mean
 * over all its target tokens (output tokens + `</s>`), whatever micro-batch they fell in.
 */
import { createHash } from "node:crypto";
import { parameterCount } from "../model/config";
import { Tokenizer } from "../tokenizer/tokenizer";
import { PROJECTIONS } from "../adapters/lora-weights";
import { loadBaseModel, type BaseModel } from "./base-weights";
import { packExamples } from "./batch";
import { loadCheckpointTensors, readCheckpointState, removeCheckpoint, saveCheckpoint, type CheckpointState, type CurvePoint } from "./checkpoint";
import { targetModules, TrainConfigError, type TrainConfig } from "./config";
import { assertUsable, describeDropped, prepareExamples, readRows, TrainDataError, type DatasetStats, type Example } from "./dataset";
import { LoraTrainModel, type PackedBatch } from "./lora-model";
import { matmulStats, usingNativeMatmul } from "./matmul";
import { AdamW, ADAMW_DEFAULTS, clipGradNorm, learningRate, type ParamRef } from "./optim";
import { savePeftAdapter } from "./peft-save";
import { Rng } from "./tensor";

export interface TrainProgress {
  step: number;
  total_steps: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  val_loss?: number;
  tokens: number;
  tokens_per_s: number;
  seconds: number;
  eta_s: number;
}

export interface TrainResult {
  adapter_dir: string;
  /** mean loss over the last epoch's steps */
  train_loss: number;
  /** mean loss of the first optimizer step */
  first_loss: number;
  val_loss: number | null;
  tokens_per_s: number;
  seconds: number;
  steps: number;
  epochs: number;
  train_examples: number;
  val_examples: number;
  tokens: number;
  /** the formula (see flopsPerToken), per second of training */
  flops_per_s: number;
  /** multiply-adds the matmuls actually ran (×2), per second of training */
  matmul_flops_per_s: number;
  native_matmul: boolean;
  resumed_from_step: number | null;
  dataset: DatasetStats;
  curve: CurvePoint[];
}

export interface TrainOptions {
  /** called after every optimizer step */
  onProgress?: (p: TrainProgress) => void;
  /** human-readable notes (dataset counts, resume) */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** ignore an existing checkpoint instead of resuming from it */
  fresh?: boolean;
  /** preloaded base model (tests, the server) */
  base?: BaseModel;
}

export class TrainCancelled extends Error {
  constructor(readonly step: number) {
    super(`training cancelled at step ${step} (checkpoint kept)`);
    this.name = "TrainCancelled";
  }
}

/**
 * FLOPs of one training token at position p (the formula): 2·P forward + 2·P backward
 * to the activations (P = base parameters), + 6·P_lora (LoRA forward, input gradient, weight
 * gradient), + attention 12·layers·heads·headDim·(visible keys): QKᵀ and PV forward, dP, dV,
 * dQ, dK backward, 2 FLOPs per multiply-add.
 */
export function flopsPerToken(base: number, lora: number, layers: number, qDim: number, visible: number): number {
  return 4 * base + 6 * lora + 12 * layers * qDim * visible;
}

function fingerprint(cfg: TrainConfig, nTrain: number): string {
  const relevant = { base: cfg.base_model, data: cfg.dataset, tpl: cfg.prompt_template, out: cfg.output_column, adapter: cfg.adapter, trainer: { ...cfg.trainer, checkpoint_every: undefined }, nTrain };
  return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 16);
}

/** Splits row indices into (train, validation) by a seeded shuffle. */
function splitRows(n: number, fraction: number, seed: number): { train: number[]; val: number[] } {
  const idx = Rng.derive(seed, 3).shuffle(Array.from({ length: n }, (_, i) => i));
  const nVal = fraction > 0 ? Math.max(1, Math.round(n * fraction)) : 0;
  if (fraction > 0 && nVal >= n) throw new TrainConfigError(`${fraction} leaves no training rows out of ${n}`, "trainer.validation_split");
  return { val: idx.slice(0, nVal).sort((a, b) => a - b), train: idx.slice(nVal).sort((a, b) => a - b) };
}

export async function train(cfg: TrainConfig, opts: TrainOptions = {}): Promise<TrainResult> {
  const log = opts.onLog ?? (() => {});
  const t = cfg.trainer;
  const base = opts.base ?? (await loadBaseModel(cfg.base_model));
  const c = base.config;
  const tokenizer = await Tokenizer.load(base.dir);
  const eosId = tokenizer.eosIds[0] ?? c.eosTokenIds[0];
  if (eosId === undefined) throw new TrainConfigError("the base model's tokenizer has no end-of-sequence token to end the outputs with", "base_model");

  // ---- data
  const { rows, invalid } = readRows(cfg.dataset);
  const prep = (subset: typeof rows, inv: number) => prepareExamples(subset, inv, { template: cfg.prompt_template, outputColumn: cfg.output_column, maxLength: t.max_length, tokenizer, eosId });
  const all = prep(rows, invalid);
  assertUsable(all.stats, cfg.dataset);
  // the split is over usable examples, so both sides only hold rows that train
  const split = splitRows(all.examples.length, t.validation_split, t.seed);
  let trainEx: Example[] = split.train.map((i) => all.examples[i]);
  const valEx: Example[] = split.val.map((i) => all.examples[i]);
  if (t.max_examples !== undefined) trainEx = trainEx.slice(0, t.max_examples);
  if (trainEx.length === 0) throw new TrainDataError("no training rows left after the validation split", "trainer.validation_split");
  const s = all.stats;
  log(`dataset: ${s.rows} rows, ${s.usable} usable (${trainEx.length} train, ${valEx.length} validation); ${s.truncated} cut at max_length ${t.max_length}` +
    (s.usable < s.rows ? `; dropped: ${describeDropped(s)}` : ""));

  // ---- model and optimizer
  const spec = { r: cfg.adapter.r, alpha: cfg.adapter.alpha, dropout: cfg.adapter.dropout, targets: targetModules(cfg) };
  const model = new LoraTrainModel(c, base.weights, spec, "f32");
  model.initLora(Rng.derive(t.seed, 0));
  const refs: ParamRef[] = model.params.flatMap((p) => [{ w: p.a, g: p.ga }, { w: p.b, g: p.gb }]);
  const opt = new AdamW(refs, { ...ADAMW_DEFAULTS, lr: t.learning_rate, weightDecay: t.weight_decay });

  const microPerEpoch = Math.ceil(trainEx.length / t.batch_size);
  const stepsPerEpoch = Math.ceil(microPerEpoch / t.gradient_accumulation);
  const totalSteps = stepsPerEpoch * t.epochs;
  const fp = fingerprint(cfg, trainEx.length);
  let state: CheckpointState = { version: 1, fingerprint: fp, step: 0, epoch: 0, micro: 0, tokens: 0, seconds: 0, curve: [] };
  let resumedFrom: number | null = null;
  if (opts.fresh) removeCheckpoint(cfg.output_dir);
  const saved = readCheckpointState(cfg.output_dir);
  if (saved) {
    if (saved.fingerprint !== fp) {
      throw new TrainConfigError(`${cfg.output_dir} holds a checkpoint of a different config or dataset; use another output folder or start fresh (--fresh)`, "output_dir");
    }
    await loadCheckpointTensors(cfg.output_dir, saved, model.params, opt);
    state = saved;
    resumedFrom = saved.step;
    log(`resuming from the checkpoint at step ${saved.step} of ${totalSteps}`);
  }

  // ---- FLOP accounting (per token, formula)
  const P = parameterCount(c);
  const loraP = model.trainableCount;
  const qDim = c.numHeads * c.headDim;
  const batchFlops = (b: PackedBatch) => {
    let f = 0;
    for (let i = 0; i < b.tokens.length; i++) {
      const p = b.positions[i];
      f += flopsPerToken(P, loraP, c.numLayers, qDim, c.slidingWindow > 0 ? Math.min(p + 1, c.slidingWindow) : p + 1);
    }
    return f;
  };

  const validate = (): number | null => {
    if (valEx.length === 0) return null;
    let sum = 0, n = 0;
    for (let i = 0; i < valEx.length; i += t.batch_size) {
      const b = packExamples(valEx.slice(i, i + t.batch_size));
      sum += model.lossSum(b);
      n += b.targets.length;
    }
    return sum / n;
  };

  const started = performance.now();
  const secondsNow = () => state.seconds + (performance.now() - started) / 1000;
  const tokensAtStart = state.tokens;
  let flops = 0;
  const matmulFlops0 = matmulStats.flops;
  let lastVal: number | null = state.curve.findLast((p) => p.val_loss !== undefined)?.val_loss ?? null;

  for (let epoch = state.epoch; epoch < t.epochs; epoch++) {
    const order = Rng.derive(t.seed, 1, epoch).shuffle(trainEx.map((_, i) => i));
    let micro = epoch === state.epoch ? state.micro : 0;
    while (micro < microPerEpoch) {
      if (opts.signal?.aborted) {
        saveCheckpoint(cfg.output_dir, { ...state, seconds: secondsNow() }, model.params, opt);
        throw new TrainCancelled(state.step);
      }
      const nMicro = Math.min(t.gradient_accumulation, microPerEpoch - micro);
      const batches: PackedBatch[] = [];
      for (let m = 0; m < nMicro; m++) {
        const lo = (micro + m) * t.batch_size;
        batches.push(packExamples(order.slice(lo, lo + t.batch_size).map((i) => trainEx[i])));
      }
      const targets = batches.reduce((n, b) => n + b.targets.length, 0);
      model.zeroGrads();
      let lossSum = 0;
      batches.forEach((b, m) => {
        lossSum += model.forwardBackward(b, 1 / targets, Rng.derive(t.seed, 2, epoch * microPerEpoch + micro + m));
        state.tokens += b.tokens.length;
        flops += batchFlops(b);
      });
      const gradNorm = clipGradNorm(refs, t.max_grad_norm);
      const lr = learningRate(state.step, totalSteps, t.warmup_steps, t.learning_rate);
      opt.update(lr);
      state.step++;
      micro += nMicro;
      const point: CurvePoint = { step: state.step, epoch: epoch + micro / microPerEpoch, loss: lossSum / targets, lr, grad_norm: gradNorm };
      const epochEnd = micro >= microPerEpoch;
      if (epochEnd) {
        lastVal = validate();
        if (lastVal !== null) point.val_loss = lastVal;
      }
      state.curve.push(point);
      state.epoch = epochEnd ? epoch + 1 : epoch;
      state.micro = epochEnd ? 0 : micro;
      const seconds = secondsNow();
      const tokensPerS = (state.tokens - tokensAtStart) / Math.max(1e-9, (performance.now() - started) / 1000);
      opts.onProgress?.({
        step: state.step, total_steps: totalSteps, epoch: point.epoch, loss: point.loss, lr, grad_norm: gradNorm,
        ...(point.val_loss !== undefined ? { val_loss: point.val_loss } : {}),
        tokens: state.tokens, tokens_per_s: tokensPerS, seconds,
        eta_s: ((totalSteps - state.step) * (performance.now() - started)) / 1000 / Math.max(1, state.step - (resumedFrom ?? 0)),
      });
      if (state.step < totalSteps && (epochEnd || (t.checkpoint_every > 0 && state.step % t.checkpoint_every === 0))) {
        saveCheckpoint(cfg.output_dir, { ...state, seconds }, model.params, opt);
      }
      // a step is one synchronous computation: yield so that signals (Ctrl-C), an abort from the
      // caller and progress consumers get their turn between steps
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  const runSeconds = (performance.now() - started) / 1000;
  savePeftAdapter(cfg.output_dir, model.params, { baseModel: base.dir, spec: { ...spec, targets: PROJECTIONS.filter((p) => spec.targets.includes(p)) } });
  removeCheckpoint(cfg.output_dir);
  const lastEpoch = state.curve.filter((p) => p.epoch > t.epochs - 1);
  const trainTokens = state.tokens - tokensAtStart;
  return {
    adapter_dir: cfg.output_dir,
    train_loss: lastEpoch.reduce((a, p) => a + p.loss, 0) / Math.max(1, lastEpoch.length),
    first_loss: state.curve[0]?.loss ?? NaN,
    val_loss: lastVal,
    tokens_per_s: trainTokens / Math.max(1e-9, runSeconds),
    seconds: state.seconds + runSeconds,
    steps: state.step,
    epochs: t.epochs,
    train_examples: trainEx.length,
    val_examples: valEx.length,
    tokens: state.tokens,
    flops_per_s: flops / Math.max(1e-9, runSeconds),
    matmul_flops_per_s: (matmulStats.flops - matmulFlops0) / Math.max(1e-9, runSeconds),
    native_matmul: usingNativeMatmul(),
    resumed_from_step: resumedFrom,
    dataset: all.stats,
    curve: state.curve,
  };
}
