/** Next calls `register` once when a server process starts (server/recover.ts). */
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { recoverAtStart } = await import("./server/recover");
  try {
    await recoverAtStart();
  } catch (err) {
    // the database may be down now: requests will retry opening it, and the hub recovers on first use
    console.error("[web] recovery at start failed:", err instanceof Error ? err.message : err);
  }
}
