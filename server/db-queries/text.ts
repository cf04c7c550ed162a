/**
 * Text as Postgres (and PGlite) can store it: neither takes a NUL (U+0000) in text or jsonb. What
 * a model produced can hold one (a <0x00> byte token), so it is kept as U+FFFD (one UTF-16 unit:
 * lengths and cut points stay). Inputs with a NUL are refused before this (server/trpc.ts).
 */
export function storableText(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text;
}

/** The same for every string in a JSON value (an eval example's inputs). */
export function storableJson<T>(v: T): T {
  if (typeof v === "string") return storableText(v) as T;
  if (Array.isArray(v)) return v.map(storableJson) as T;
  if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [storableText(k), storableJson(x)])) as T;
  }
  return v;
}
