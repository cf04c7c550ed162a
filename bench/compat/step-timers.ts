/**
 * Loaded into the worker process by bench/compat/http-steps.ts (`node --import tsx --import
 * ./bench/compat/step-timers.ts inference/cli/main.ts serve ...`): wraps the engine loop's parts
 * on their prototypes and answers the bench over IPC ("reset" / "get"). Timers only; the worker
 * runs unchanged otherwise.
 */
import http from "node:http";
import { Engine } from "../../inference/engine/engine";
import { Scheduler } from "../../inference/engine/scheduler";
import { RequestSampler } from "../../inference/engine/sampler";
import { StreamingDetokenizer } from "../../inference/engine/detokenizer";
import { StopMatcher } from "../../inference/engine/stop";
import { JsonConstraint } from "../../inference/engine/json-constraint";
import { Model } from "../../inference/model/model";

const acc = new Map<string, number>(); // label -> ms since the last reset
const add = (label: string, ms: number) => acc.set(label, (acc.get(label) ?? 0) + ms);
let steps = 0;

function time(obj: object, name: string, label: string): void {
  const o = obj as Record<string, (...a: unknown[]) => unknown>;
  const orig = o[name]!;
  o[name] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    try {
      return orig.apply(this, a);
    } finally {
      add(label, performance.now() - t0);
    }
  };
}

time(Model.prototype, "forward", "forward");
time(Scheduler.prototype, "schedule", "schedule");
time(RequestSampler.prototype, "sample", "sample");
time(RequestSampler.prototype, "accept", "sample");
time(StreamingDetokenizer.prototype, "push", "detokenize");
time(StreamingDetokenizer.prototype, "flush", "detokenize");
time(StopMatcher.prototype, "push", "stop matching");
time(JsonConstraint.prototype, "mask", "json constraint");
time(JsonConstraint.prototype, "accept", "json constraint");
time(Engine.prototype, "onToken", "onToken (all)");
time(http.ServerResponse.prototype, "write", "http writes");
time(http.ServerResponse.prototype, "end", "http writes");
{
  // whole steps, and the time from one step's end to the next one's start (setImmediate, token
  // events through the HTTP layer, I/O)
  const E = Engine.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = E.step!;
  let lastEnd = -1;
  E.step = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    if (lastEnd >= 0 && t0 - lastEnd < 50) add("between steps", t0 - lastEnd); // (an idle pause is not a gap)
    try {
      return orig.apply(this, a);
    } finally {
      lastEnd = performance.now();
      add("step (all)", lastEnd - t0);
      steps++;
    }
  };
}

process.on("message", (m) => {
  if (m === "reset") {
    acc.clear();
    steps = 0;
    process.send!({ ok: true });
  } else if (m === "get") {
    process.send!({ steps, ms: Object.fromEntries(acc) });
  }
});
