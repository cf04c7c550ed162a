/** A chat as Markdown or JSON, for download from history, with the owner's thumbs up/down on each answer. */
import type { ChatDetail } from "../../server/db-queries/chats";

const label = (a: string | null) => a ?? "base model";

/** The owner's ratings by generation id (feedback.get); unrated answers are absent. */
export type FeedbackMap = Record<string, "up" | "down">;

const THUMB = { up: "👍 thumbs up", down: "👎 thumbs down" } as const;

export function chatToMarkdown(d: ChatDetail, feedback: FeedbackMap = {}): string {
  const out = [`# ${d.chat.title}`, "", `- kind: ${d.chat.kind}`, `- models: ${d.chat.settings.adapters.map(label).join(", ")}`, `- parameters: \`${JSON.stringify(d.chat.settings.params)}\``, `- created: ${new Date(d.chat.createdAt).toISOString()}`, ""];
  for (const m of d.messages) {
    out.push(`## Turn ${m.turn + 1}`, "", "### Prompt", "", "```text", m.content, "```", "");
    for (const g of d.generations.filter((g) => g.turn === m.turn)) {
      const stats = [
        g.ttftMs != null ? `TTFT ${g.ttftMs.toFixed(0)} ms` : null,
        g.tokensPerSecond != null ? `${g.tokensPerSecond.toFixed(1)} tok/s` : null,
        g.tokensOut != null ? `${g.tokensOut} tokens` : null,
        g.finishReason ? `finish: ${g.finishReason}` : null,
      ].filter(Boolean);
      const rating = feedback[g.id];
      out.push(`### ${label(g.adapterId)} (${g.status})`, "", stats.length ? `_${stats.join(" · ")}_` : "", "", "```text", g.output, "```", "");
      if (rating) out.push(`Feedback: ${THUMB[rating]}`, "");
      if (g.error) out.push(`> error: ${g.error}`, "");
    }
  }
  return out.join("\n");
}

export function chatToJson(d: ChatDetail, feedback: FeedbackMap = {}): string {
  return JSON.stringify(
    {
      id: d.chat.id,
      title: d.chat.title,
      kind: d.chat.kind,
      settings: d.chat.settings,
      createdAt: d.chat.createdAt,
      turns: d.messages.map((m) => ({
        prompt: m.content,
        inputs: m.inputs,
        outputs: d.generations
          .filter((g) => g.turn === m.turn)
          .map(({ id, adapterId, status, output, finishReason, error, queueMs, ttftMs, totalMs, tokensIn, tokensOut, tokensPerSecond, seed, params }) => ({
            id, adapterId, status, output, finishReason, error, queueMs, ttftMs, totalMs, tokensIn, tokensOut, tokensPerSecond, seed, params,
            /** the owner's thumbs up/down; null = not rated */
            feedback: feedback[id] ?? null,
          })),
      })),
    },
    null,
    2,
  );
}

/**
 * Groups by calendar day relative to `now`: Today, Yesterday, Previous 7 days, then month. Days
 * are the browser's own (local), or UTC's (`utc`: the server's render and the hydrating one, which
 * must agree whatever the two time zones).
 */
export function dateGroup(d: Date, now = new Date(), { utc = false }: { utc?: boolean } = {}): string {
  const day = (x: Date) => (utc ? Date.UTC(x.getUTCFullYear(), x.getUTCMonth(), x.getUTCDate()) : new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime());
  const diff = Math.round((day(now) - day(d)) / 86_400_000);
  if (diff <= 0) return "Today";
  if (diff === 1) return "Yesterday";
  if (diff < 7) return "Previous 7 days";
  if (diff < 30) return "Previous 30 days";
  return d.toLocaleDateString("en", { month: "long", year: "numeric", ...(utc ? { timeZone: "UTC" } : {}) });
}
