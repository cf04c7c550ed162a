/**
 * Padding-free packing: the examples of a micro-batch laid end to end as one run of tokens,
 * positions restarting at 0 in each, attention kept within each example (seqStarts).
 */
import type { Example } from "./dataset";
import type { PackedBatch } from "./lora-model";

/**
 * The input is every token but the last of each example (position p predicts token p+1); the
 * rows p >= promptLen − 1 predict the output tokens and `</s>`, the loss's only targets.
 */
export function packExamples(examples: Example[]): PackedBatch {
  let T = 0;
  let R = 0;
  for (const e of examples) {
    T += e.ids.length - 1;
    R += e.ids.length - e.promptLen;
  }
  const b: PackedBatch = {
    tokens: new Int32Array(T), positions: new Int32Array(T), seqStarts: new Int32Array(examples.length + 1),
    targetRows: new Int32Array(R), targets: new Int32Array(R),
  };
  let t = 0;
  let r = 0;
  examples.forEach((e, s) => {
    b.seqStarts[s] = t;
    for (let p = 0; p < e.ids.length - 1; p++) {
      b.tokens[t + p] = e.ids[p];
      b.positions[t + p] = p;
      if (p + 1 >= e.promptLen) {
        b.targetRows[r] = t + p;
        b.targets[r] = e.ids[p + 1];
        r++;
      }
    }
    t += e.ids.length - 1;
  });
  b.seqStarts[examples.length] = t;
  return b;
}
