/**
 * Adapter weight reader, run in a worker_threads Worker (see load-pool in peft.ts) so that reading
 * an adapter file and converting its tensors to fp32 never blocks the engine loop. Plain
 * JavaScript on node built-ins only: it needs no TypeScript loader in the worker.
 *
 * Request  { id, file, tensors: [{ name, dtype: "F32"|"F16"|"BF16", begin, end, n }] }
 *          (offsets absolute in the file, already validated by the main thread)
 * Reply    { id, ok: true, buffers: ArrayBuffer[] }  — one fp32 buffer per tensor, transferred
 *          { id, ok: false, message }
 */
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { parentPort } from "node:worker_threads";

/** f16 -> f32 lookup table, built on first use (same values as safetensors.ts halfToFloat32) */
let f16Table = null;
function halfTable() {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

function readExactly(fd, buf, position, name) {
  for (let done = 0; done < buf.byteLength; ) {
    const n = readSync(fd, buf, done, buf.byteLength - done, position + done);
    if (n === 0) throw new Error(`${name}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/** NaN or ±Inf in a LoRA weight would turn every output of the adapted layers into NaN: refuse it */
function checkFinite(values, tensor, file) {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) throw new Error(`${file}: tensor "${tensor}" holds ${Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"} at element ${i}; an adapter's weights must be finite`);
  }
}

function readTensors(file, tensors) {
  const name = basename(file);
  let fd;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    throw new Error(`${name}: cannot open: ${err.code ?? String(err)}`);
  }
  try {
    let scratch = new Uint16Array(0);
    return tensors.map((t) => {
      const out = new Float32Array(t.n); // (numel) fp32
      if (t.dtype === "F32") {
        readExactly(fd, new Uint8Array(out.buffer), t.begin, name);
      } else if (t.dtype === "F16" || t.dtype === "BF16") {
        if (scratch.length < t.n) scratch = new Uint16Array(t.n);
        const src = scratch.subarray(0, t.n);
        readExactly(fd, new Uint8Array(src.buffer, 0, t.n * 2), t.begin, name);
        if (t.dtype === "BF16") {
          // bf16 is the top half of an fp32
          const o = new Uint32Array(out.buffer);
          for (let i = 0; i < t.n; i++) o[i] = src[i] << 16;
        } else {
          const table = halfTable();
          for (let i = 0; i < t.n; i++) out[i] = table[src[i]];
        }
      } else {
        throw new Error(`${name}: tensor "${t.name}": dtype ${t.dtype} is not supported (F32, F16, BF16 are)`);
      }
      checkFinite(out, t.name, name);
      return out.buffer;
    });
  } finally {
    closeSync(fd);
  }
}

parentPort.on("message", (req) => {
  let buffers;
  try {
    buffers = readTensors(req.file, req.tensors);
  } catch (err) {
    parentPort.postMessage({ id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) });
    return;
  }
  // transfer, not copy: the main thread gets the buffers without touching their bytes
  parentPort.postMessage({ id: req.id, ok: true, buffers }, buffers);
});
