"""The sentiment recipe (recipes/sentiment.yaml) with transformers 5.17 + peft 0.21's Trainer, on the
CPU: the reference our engine is checked against (README "Against transformers + PEFT").

    python -m venv venv && venv/bin/pip install torch transformers==5.17.0 peft==0.21.0
    venv/bin/python inference/train/reference/hf_replay.py --out DIR [--seed N]
        # the stated recipe, torch's own draws, base in bf16 (transformers 5's dtype "auto")
    npx tsx inference/train/reference/dump-draws.ts 7 DRAWS
    venv/bin/python inference/train/reference/hf_replay.py --out DIR --order DRAWS/order.json \
        --init-in DRAWS/init/adapter_model.safetensors --dtype float32 --dropout 0
        # replays our seed-7 run: same initial A, same batches (tests/train/vs-transformers.test.ts)

Writes the adapter (PEFT folder) to DIR and one JSON line per step (loss, grad_norm,
learning_rate) to DIR.log.jsonl. Rows: <s> + prompt tokens, the output's tokens, </s>, cut at 512;
labels -100 on the prompt; right padding with the attention mask.
"""
import argparse
import gzip
import json
import os
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from torch.utils.data import SequentialSampler
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
BASE = os.path.join(ROOT, "data/demo/base")
DATA = os.path.join(ROOT, "data/demo/tasks/sentiment/train.jsonl.gz")
TEMPLATE = "Is the overall sentiment of this review positive or negative?\n\nReview: {review}\nSentiment:"

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--dtype", default="auto", choices=["auto", "float32"])
p.add_argument("--dropout", type=float, default=0.05)
p.add_argument("--seed", type=int, default=42)
p.add_argument("--order", help="JSON list of epochs, each a list of row indices (dump-draws.ts)")
p.add_argument("--init-in", help="initial adapter_model.safetensors (dump-draws.ts)")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (then --resume)")
p.add_argument("--resume", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)

tok = AutoTokenizer.from_pretrained(BASE)
rows = [json.loads(line) for line in gzip.open(DATA, "rt")]
examples = []
for r in rows:
    prompt = tok(TEMPLATE.replace("{review}", r["review"]))["input_ids"]
    output = tok(r["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    examples.append({"input_ids": (prompt + output)[:512], "labels": ([-100] * len(prompt) + output)[:512]})

torch.manual_seed(a.seed)
model = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32 if a.dtype == "float32" else "auto")
model = get_peft_model(model, LoraConfig(
    r=16, lora_alpha=32, lora_dropout=a.dropout, task_type="CAUSAL_LM",
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
if a.init_in:
    from safetensors.torch import load_file
    init = load_file(a.init_in)
    loaded = 0
    for name, param in model.named_parameters():
        key = name.replace(".default", "")
        if key in init:
            param.data.copy_(init[key].to(param.dtype))
            loaded += 1
    assert loaded == len(init), (loaded, len(init))

if a.order:
    train_set = [examples[i] for epoch in json.load(open(a.order)) for i in epoch]
    epochs = 1  # the epochs are laid end to end, read in order: same 750 steps and schedule
else:
    train_set, epochs = examples, 6


def collate(batch):
    n = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), n), tok.eos_token_id, dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        k = len(b["input_ids"])
        ids[i, :k] = torch.tensor(b["input_ids"])
        labels[i, :k] = torch.tensor(b["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


log = open(a.out + ".log.jsonl", "a")


class Log(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            log.write(json.dumps({"step": state.global_step, **logs}) + "\n")
            log.flush()


class OrderedTrainer(Trainer):
    def _get_train_sampler(self, *args, **kw):
        return SequentialSampler(self.train_dataset) if a.order else super()._get_train_sampler(*args, **kw)


args = TrainingArguments(
    output_dir=a.out + ".ckpt", per_device_train_batch_size=64, num_train_epochs=epochs, learning_rate=2e-3,
    lr_scheduler_type="cosine", warmup_steps=30, weight_decay=0.0, logging_steps=1, seed=a.seed,
    save_strategy="steps" if a.save_steps else "no", save_steps=a.save_steps or 500, report_to=[],
    dataloader_num_workers=0, remove_unused_columns=False, use_cpu=True, disable_tqdm=True)
trainer = OrderedTrainer(model=model, args=args, train_dataset=train_set, data_collator=collate, callbacks=[Log()])
t0 = time.time()
trainer.train(resume_from_checkpoint=True if a.resume else None)
print(f"{time.time() - t0:.1f} s", file=sys.stderr)
model.save_pretrained(a.out)
