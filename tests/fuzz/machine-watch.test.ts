/**
 * The context a fuzz stall is reported with (bench/fuzz/machine-watch.ts): the reading rules, the
 * fuzzer's own loop lag when it was kept from running, and a watched process's CPU time.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { formatStalls, MachineWatch, stallCause } from "../../bench/fuzz/machine-watch";

describe("machine watch", () => {
  it("reads a stall as the fuzzer's pause, a busy machine, or the server's", () => {
    const base = { gapMs: 800, ownLagMs: 0, cpuPressurePct: 5, load1: 0.3, cores: 2 };
    expect(stallCause(base)).toBe("server");
    expect(stallCause({ ...base, ownLagMs: 400 })).toBe("fuzzer paused");
    expect(stallCause({ ...base, cpuPressurePct: 60 })).toBe("machine busy");
    // without PSI: the load against the cores
    expect(stallCause({ ...base, cpuPressurePct: null, load1: 2.5 })).toBe("machine busy");
    expect(stallCause({ ...base, cpuPressurePct: null, load1: 1 })).toBe("server");
  });

  it("a server that answers its probe late shows how late, one that answers at once shows that", async () => {
    let slow = true;
    const server = http.createServer((_req, res) => void setTimeout(() => res.end("ok"), slow ? 4_000 : 0));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const t0 = performance.now();
    const watch = new MachineWatch({}, { server: url });
    try {
      // a gap since the start: the first probe takes the server's 4 s (answered, or so far)
      await expect.poll(() => watch.stall(performance.now() - t0).answerMs.server ?? 0, { interval: 250 }).toBeGreaterThanOrEqual(4_000);
      slow = false;
      // answered at once now: a short gap sees only the fast probes (seconds of slack for a busy machine)
      await expect.poll(() => watch.stall(300).answerMs.server ?? Infinity, { interval: 250 }).toBeLessThan(3_000);
    } finally {
      watch.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("a blocked loop in the fuzzer shows as its own lag; a watched process's CPU time is counted", async () => {
    // a child that burns CPU until killed
    const child = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
    const watch = new MachineWatch({ burner: child.pid });
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const end = performance.now() + 800;
      while (performance.now() < end); // the fuzzer's own loop kept from running
      const s = watch.stall(900);
      expect(s.ownLagMs).toBeGreaterThanOrEqual(700);
      expect(s.cause).toBe("fuzzer paused");
      expect(s.cpuMs.burner).toBeGreaterThan(0);
      expect(formatStalls([s]).join("\n")).toMatch(/fuzzer paused 1.*\n- stall at .*: 900 ms; load .*burner CPU \d+ ms → fuzzer paused/);
    } finally {
      watch.stop();
      child.kill("SIGKILL");
    }
  });
});
