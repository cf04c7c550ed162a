import type { HostBackend } from "./backend";
import { referenceBackend } from "./reference";
import { ADDON_PATH, loadAddon, nativeBackend } from "./native";

export type { Backend, HostBackend } from "./backend";
export { WEIGHT_FORMATS, QGROUP, f32Weight, weightBytes, dequantRow, type HostWeight, type WeightFormat } from "./tensor";
export { referenceBackend } from "./reference";
export { nativeBackend, nativeInfo, setNativeIsa, setNativeQuantActivations } from "./native";
export { toBf16, fromBf16, bf16ToF32 } from "./bf16";

/** Whether the native addon (build/Release/lora_kernels.node) is built and loads. */
export function nativeAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

let warned = false;

/**
 * The backend the engine runs on: the native C++ kernels when the addon is built, else the
 * TypeScript reference (with a loud warning: it is orders of magnitude slower).
 */
export function getBackend(name: "native" | "reference" = "native"): HostBackend {
  if (name === "reference") return referenceBackend;
  if (nativeAvailable()) return nativeBackend;
  if (!warned) {
    warned = true;
    let why = "";
    try {
      loadAddon();
    } catch (e) {
      why = (e as Error).message;
    }
    process.stderr.write(
      `\n*** WARNING: native kernels not available (${ADDON_PATH}).\n*** ${why}\n` +
        "*** Falling back to the TypeScript reference backend, which is ~100x slower. Run `npm install` (node-gyp rebuild).\n\n",
    );
  }
  return referenceBackend;
}
