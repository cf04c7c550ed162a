import type { Backend } from "./backend";
import { referenceBackend } from "./reference";

export type { Backend } from "./backend";
export { referenceBackend } from "./reference";

/** Whether the native addon (build/Release/lora_kernels.node) is built and loads. */
export function nativeAvailable(): boolean {
  // The native backend is not wired yet; it lands in the next commit.
  return false;
}

/**
 * The backend the engine runs on: the native C++ kernels when the addon is built, else the
 * TypeScript reference (with a loud warning: it is orders of magnitude slower).
 */
export function getBackend(name: "native" | "reference" = "native"): Backend {
  if (name === "reference") return referenceBackend;
  if (!nativeAvailable()) {
    process.stderr.write("WARNING: native kernels not available (build/Release/lora_kernels.node); falling back to the slow TypeScript reference backend. Run `npm install` or `npx node-gyp rebuild`.\n");
  }
  return referenceBackend;
}
