"""bench:gpu's transformers + PEFT side (run by bench/gpu/run.ts when python3 has torch,
transformers and peft): the same synthetic Mistral shape in f16 on the GPU with the same number
of r=8 q/v adapters, timed the same way: batch-1 decode, 32 decode streams on the base model and
on 32 distinct adapters (one mixed batch via `adapter_names`), prefill of one prompt, cold load of
one adapter. Prints one JSON line. Weights are random (torch's init under a fixed seed).

usage: python3 bench/gpu/peft_bench.py --size 7b|small --adapters N
"""
import argparse
import json
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import MistralConfig, MistralForCausalLM

SHAPES = {
    "7b": dict(hidden=4096, layers=32, heads=32, kv=8, ffn=14336, vocab=32000, prompt=512, context=512, steps=32),
    "small": dict(hidden=256, layers=4, heads=8, kv=2, ffn=704, vocab=2048, prompt=128, context=128, steps=8),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="7b", choices=SHAPES)
    ap.add_argument("--adapters", type=int, default=32)
    args = ap.parse_args()
    s = SHAPES[args.size]
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "torch has no CUDA device"}))
        return
    dev = torch.device("cuda")
    torch.manual_seed(12345)
    cfg = MistralConfig(hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                        num_key_value_heads=s["kv"], intermediate_size=s["ffn"], vocab_size=s["vocab"],
                        max_position_embeddings=32768, rope_theta=1e6, sliding_window=None)
    base = MistralForCausalLM(cfg).to(dtype=torch.float16, device=dev).eval()
    lcfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, init_lora_weights=False)
    model = get_peft_model(base, lcfg, adapter_name="a0")
    for i in range(1, args.adapters):
        model.add_adapter(f"a{i}", lcfg)
    model = model.to(dtype=torch.float16, device=dev).eval()
    names = [f"a{i}" for i in range(args.adapters)]

    def sync() -> None:
        torch.cuda.synchronize()

    @torch.inference_mode()
    def decode(batch: int, adapter_names, steps: int) -> float:
        """median seconds per decode step of `batch` streams after a context of s['context'] tokens"""
        ids = torch.randint(0, s["vocab"], (batch, s["context"]), device=dev)
        kw = {"adapter_names": adapter_names} if adapter_names is not None else {}
        with (model.disable_adapter() if adapter_names is None else torch.no_grad()):
            out = model(input_ids=ids, use_cache=True, **kw)
            past = out.past_key_values
            nxt = out.logits[:, -1:].argmax(-1)
            times = []
            for _ in range(steps):
                sync()
                t = time.perf_counter()
                out = model(input_ids=nxt, past_key_values=past, use_cache=True, **kw)
                past = out.past_key_values
                nxt = out.logits[:, -1:].argmax(-1)
                sync()
                times.append(time.perf_counter() - t)
        return statistics.median(times)

    @torch.inference_mode()
    def prefill() -> float:
        ids = torch.randint(0, s["vocab"], (1, s["prompt"]), device=dev)
        times = []
        with model.disable_adapter():
            for _ in range(4):
                sync()
                t = time.perf_counter()
                model(input_ids=ids, use_cache=True)
                sync()
                times.append(time.perf_counter() - t)
        return statistics.median(times[1:])

    steps = s["steps"]
    d1 = decode(1, None, steps)
    base32 = decode(32, None, steps)
    mixed = [names[i % len(names)] for i in range(32)]
    lora32 = decode(32, mixed, steps)
    pf = prefill()
    sync()
    t = time.perf_counter()
    model.add_adapter("cold", lcfg)
    model.to(dtype=torch.float16, device=dev)
    sync()
    cold = time.perf_counter() - t
    print(json.dumps({
        "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "decode_b1_tok_s": round(1 / d1, 2), "decode_32_base_tok_s": round(32 / base32, 1),
        "decode_32_adapters_tok_s": round(32 / lora32, 1), "adapters_over_base": round(base32 / lora32, 3),
        "prefill_tok_s": round(s["prompt"] / pf, 1), "cold_adapter_load_ms": round(cold * 1000, 1),
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for run.ts
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
