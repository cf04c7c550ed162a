/**
 * Server paths stay on the server: what pages and public endpoints show of a worker's answers
 * (its /info, adapter errors, error messages) has every absolute filesystem path cut to its last
 * part, `…/name`. URLs are left alone.
 */

// an absolute POSIX path of 2+ segments, or a Windows one, not preceded by a URL's scheme or host
const PATH = /(?<![\w:/.~-])(?:\/(?:[\w.@+~-]+\/)+[\w.@+~-]*|[A-Za-z]:\\(?:[^\\\s"'<>|]+\\)*[^\\\s"'<>|]*)/g;

export function redactPaths(text: string): string {
  return text.replace(PATH, (p) => {
    const parts = p.split(/[\\/]/).filter(Boolean);
    return `…/${parts.at(-1) ?? ""}`;
  });
}

/** The same over every string in a JSON-like value. */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redactPaths(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
