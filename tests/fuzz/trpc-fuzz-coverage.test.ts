/**
 * The tRPC fuzzer (bench/fuzz/trpc-fuzz.ts) lists every procedure with an input generator shaped
 * like its schema; this fails when a procedure is added to (or removed from) server/root.ts
 * without the fuzzer following.
 */
import { describe, expect, it } from "vitest";
import { PROCEDURE_PATHS } from "../../bench/fuzz/trpc-fuzz";
import { appRouter } from "../../server/root";

describe("tRPC fuzz coverage", () => {
  it("fuzzes every procedure of the app's router, and only those", () => {
    const procedures = Object.keys(appRouter._def.procedures as Record<string, unknown>).sort();
    expect([...PROCEDURE_PATHS].sort()).toEqual(procedures);
  });
});
