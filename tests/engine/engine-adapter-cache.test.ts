import { describe, expect, it } from "vitest";
import { AdapterRegistry } from "../../inference/adapters/registry";
import { AdapterCache } from "../../inference/adapters/cache";
import type { LoraWeights } from "../../inference/adapters/lora-weights";
import { AdapterError } from "../../inference/errors";

// Residency bookkeeping only: the loader returns weight objects of a chosen size (the engine
// tests load the real PEFT fixtures).
function setup(opts: { slots: number; budget: number; host: number; sizes: Record<string, number>; failing?: string[] }) {
  const reg = new AdapterRegistry();
  const loads: string[] = [];
  const settled: [string, string | null][] = [];
  const cache = new AdapterCache(reg, {
    slots: opts.slots,
    budgetBytes: opts.budget,
    hostBytes: opts.host,
    load: async (e) => {
      loads.push(e.id);
      await new Promise((r) => setTimeout(r, 5));
      if (opts.failing?.includes(e.id)) throw new AdapterError(e.id, "adapter_config.json: missing field r", { field: "r" });
      return { id: e.id, layers: [], bytes: opts.sizes[e.id]!, rank: 4, targetModules: ["q_proj"] } as LoraWeights;
    },
    onSettled: (key, err) => settled.push([key, err ? err.message : null]),
  });
  const keys: Record<string, string> = {};
  for (const id of Object.keys(opts.sizes)) keys[id] = reg.register(id, `/adapters/${id}`, "local").key;
  const state = (id: string) => reg.get(id)!.state;
  return { reg, cache, loads, settled, keys, state };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe("AdapterCache", () => {
  it("loads off the caller's path: tryAcquire starts a load and succeeds once it settled", async () => {
    const s = setup({ slots: 2, budget: 1000, host: 0, sizes: { a: 100 } });
    expect(s.cache.tryAcquire(s.keys.a!)).toBe(false);
    expect(s.state("a")).toBe("loading");
    expect(s.cache.tryAcquire(s.keys.a!)).toBe(false); // no second load
    await tick();
    expect(s.loads).toEqual(["a"]);
    expect(s.settled).toEqual([[s.keys.a, null]]);
    expect(s.cache.tryAcquire(s.keys.a!)).toBe(true);
    expect(s.state("a")).toBe("resident");
    expect(s.cache.weights(s.keys.a!).id).toBe("a");
  });

  it("evicts the least recently used idle adapter to the host tier, never a pinned one", async () => {
    const s = setup({ slots: 2, budget: 1000, host: 1000, sizes: { a: 100, b: 100, c: 100 } });
    for (const id of ["a", "b", "c"]) s.cache.tryAcquire(s.keys[id]!);
    await tick();
    expect(s.cache.tryAcquire(s.keys.a!)).toBe(true);
    expect(s.cache.tryAcquire(s.keys.b!)).toBe(true);
    // both slots pinned: c waits for a slot
    expect(s.cache.tryAcquire(s.keys.c!)).toBe(false);
    expect(s.cache.waitsForSlot(s.keys.c!)).toBe(true);
    expect(s.cache.waitsForSlot(s.keys.a!)).toBe(false);
    s.cache.release(s.keys.b!);
    s.cache.release(s.keys.a!); // a used more recently than b
    expect(s.cache.waitsForSlot(s.keys.c!)).toBe(false);
    expect(s.cache.tryAcquire(s.keys.c!)).toBe(true);
    expect(s.state("b")).toBe("host");
    expect(s.state("a")).toBe("resident");
    // back from host without a new load
    s.cache.release(s.keys.c!);
    expect(s.cache.tryAcquire(s.keys.b!)).toBe(true);
    expect(s.loads.sort()).toEqual(["a", "b", "c"]);
    expect(s.state("a")).toBe("host");
  });

  it("counts the budget in bytes and drops evicted adapters when the host tier is 0", async () => {
    const s = setup({ slots: 8, budget: 250, host: 0, sizes: { a: 100, b: 100, c: 100 } });
    for (const id of ["a", "b", "c"]) s.cache.tryAcquire(s.keys[id]!);
    await tick();
    expect(s.cache.tryAcquire(s.keys.a!)).toBe(true);
    expect(s.cache.tryAcquire(s.keys.b!)).toBe(true);
    expect(s.cache.tryAcquire(s.keys.c!)).toBe(false); // 300 > 250
    s.cache.release(s.keys.a!);
    expect(s.cache.tryAcquire(s.keys.c!)).toBe(true);
    expect(s.state("a")).toBe("disk");
    expect(s.cache.residentBytes).toBe(200);
    s.cache.release(s.keys.b!);
    expect(s.cache.tryAcquire(s.keys.a!)).toBe(false); // dropped: loads again
    await tick();
    expect(s.loads.filter((x) => x === "a")).toHaveLength(2);
  });

  it("a failed load is recorded with its reason and never retried for that registration", async () => {
    const s = setup({ slots: 2, budget: 1000, host: 0, sizes: { bad: 1, ok: 1 }, failing: ["bad"] });
    s.cache.tryAcquire(s.keys.bad!);
    s.cache.tryAcquire(s.keys.ok!);
    await tick();
    expect(s.state("bad")).toBe("failed");
    expect(s.reg.get("bad")!.error).toMatch(/adapter "bad": adapter_config.json: missing field r/);
    expect(s.cache.failure(s.keys.bad!)?.code).toBe("adapter_invalid");
    expect(s.cache.tryAcquire(s.keys.bad!)).toBe(false);
    expect(s.cache.tryAcquire(s.keys.ok!)).toBe(true);
    expect(s.loads.filter((x) => x === "bad")).toHaveLength(1);
    await expect(s.cache.preload(s.keys.bad!)).rejects.toThrow(/missing field r/);
    // re-registering gives a fresh key that loads again
    const again = s.reg.register("bad", "/adapters/bad", "local").key;
    expect(again).not.toBe(s.keys.bad);
    expect(s.reg.list().find((a) => a.id === "bad")!.state).toBe("disk");
  });

  it("an adapter larger than the whole budget fails with a clear reason", async () => {
    const s = setup({ slots: 2, budget: 50, host: 0, sizes: { big: 100 } });
    await expect(s.cache.preload(s.keys.big!)).rejects.toThrow(/more than the adapter budget/);
    expect(s.state("big")).toBe("failed");
  });
});
