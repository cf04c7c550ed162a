/**
 * Errors and settings in words for people: a tRPC validation error's message is the validator's
 * JSON (`[{"code":…,"message":"title is empty",…}]`); show its messages, naming the field.
 */
export function friendlyError(e: { message: string; data?: unknown } | null | undefined): string {
  if (!e) return "";
  const data = e.data as { code?: string; httpStatus?: number } | null | undefined;
  if (data?.code === "NOT_FOUND") return "Not found.";
  const msg = e.message.trim();
  if (msg.startsWith("[") || msg.startsWith("{")) {
    try {
      const parsed = JSON.parse(msg) as unknown;
      const issues = (Array.isArray(parsed) ? parsed : [parsed]) as { message?: string; path?: (string | number)[] }[];
      const words = issues.map((i) => (i.message ? (i.path?.length ? `${i.path.join(".")}: ${i.message}` : i.message) : "")).filter(Boolean);
      if (words.length) return words.join("; ");
    } catch {}
    return "The request was not valid.";
  }
  return msg;
}

/** Generation parameters as `name = value` pairs (wraps on a phone, unlike one long JSON line). */
export function paramsText(params: object | null | undefined): string {
  return Object.entries(params ?? {})
    .filter(([, v]) => v !== undefined && v !== null)
    // objects (response_format with its JSON schema) as JSON, not "[object Object]"
    .map(([k, v]) => `${k} = ${Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" · ");
}
