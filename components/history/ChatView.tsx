"use client";
/** One history entry: its turns and outputs as stored, rename, delete, export, share, continue. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { type RouterOutputs, useTRPC } from "@/trpc/react";
import { OutputPane } from "../playground/OutputPane";
import { emptyPane, type PaneView } from "../playground/run-state";
import { BASE, setupQuery } from "../playground/url-state";
import { ShareButton } from "../share/ShareDialog";
import { FeedbackButtons } from "../presets/FeedbackButtons";
import { chatToJson, chatToMarkdown } from "./export";
import { useOutputKinds } from "./output-kinds";
import { friendlyError, paramsText } from "./errors";
import { HistoryDrawer, HistorySidebar } from "./HistorySidebar";
import { VersionNav } from "./versions";

function download(name: string, type: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

type Detail = RouterOutputs["chats"]["get"];
type Message = Detail["messages"][number];

/** Consecutive turns with the same prompt and inputs: reruns, shown as versions of one answer. */
function groupTurns(messages: Message[]): Message[][] {
  const groups: Message[][] = [];
  const same = (a: Message, b: Message) => a.content === b.content && JSON.stringify(a.inputs ?? null) === JSON.stringify(b.inputs ?? null);
  for (const m of messages) {
    const last = groups.at(-1);
    if (last && same(last[0]!, m)) last.push(m);
    else groups.push([m]);
  }
  return groups;
}

function TurnGroup({
  turns,
  generations,
  feedback,
  kindOf,
  editHref,
}: {
  turns: Message[];
  generations: Detail["generations"];
  feedback: Record<string, "up" | "down">;
  kindOf: ReturnType<typeof useOutputKinds>;
  editHref: (m: Message) => string;
}) {
  const [picked, setPicked] = useState<number | null>(null);
  const index = picked ?? turns.length - 1;
  const m = turns[index]!;
  const gens = generations.filter((g) => g.turn === m.turn);
  return (
    <section className="flex flex-col gap-2" data-testid="chat-turn">
      <div className="flex flex-wrap items-center gap-2 text-xs">
        <VersionNav index={index} count={turns.length} onChange={setPicked} />
        <Link href={editHref(m)} data-testid="chat-edit-rerun" className="ml-auto text-slate-600 underline dark:text-slate-400">
          Edit and rerun
        </Link>
      </div>
      <pre data-testid="chat-prompt" className="max-h-60 overflow-auto whitespace-pre-wrap rounded bg-slate-50 px-2 py-1 font-mono text-xs dark:bg-slate-900">{m.content}</pre>
      <div className={`grid grid-cols-1 gap-3 ${gens.length >= 3 ? "md:grid-cols-3" : gens.length === 2 ? "md:grid-cols-2" : ""}`}>
        {gens.map((g) => {
          const pane: PaneView = {
            ...emptyPane(g.adapterId),
            status: g.status,
            text: g.output,
            tokens: g.tokens ?? [],
            error: g.error,
            finishReason: g.finishReason,
            stats: { queueMs: g.queueMs, ttftMs: g.ttftMs, totalMs: g.totalMs, tokensIn: g.tokensIn, tokensOut: g.tokensOut ?? 0, tokensPerSecond: g.tokensPerSecond },
          };
          const ended = g.status !== "queued" && g.status !== "streaming";
          return (
            <OutputPane
              key={g.id}
              testId="chat-generation"
              label={g.adapterId ?? "Base model"}
              pane={pane}
              startedAt={null}
              showTokens={false}
              outputKind={kindOf(g.adapterId)}
              header={ended ? <FeedbackButtons generationId={g.id} rating={feedback[g.id] ?? null} /> : undefined}
            />
          );
        })}
      </div>
    </section>
  );
}

export function ChatView({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const { data, error } = useQuery({
    ...trpc.chats.get.queryOptions({ id }),
    // a stream may still be running in another tab: poll until everything ended
    refetchInterval: (q) => (q.state.data?.generations.some((g) => g.status === "queued" || g.status === "streaming") ? 1000 : false),
  });
  const [editing, setEditing] = useState<string | null>(null);
  // the owner's thumbs up/down on this chat's answers (shown on each, and exported with it)
  const { data: feedback = {} } = useQuery(trpc.feedback.get.queryOptions({ chatId: id }));
  const kindOf = useOutputKinds();
  const invalidate = () => queryClient.invalidateQueries(trpc.chats.pathFilter());
  const rename = useMutation(trpc.chats.rename.mutationOptions({ onSuccess: () => (setEditing(null), invalidate()) }));
  const del = useMutation(trpc.chats.delete.mutationOptions({ onSuccess: () => (invalidate(), router.push("/chats")) }));
  if (error) return <p role="alert" className="text-red-600" data-testid="chat-error">{friendlyError(error)}</p>;
  if (!data) return <p className="text-sm text-slate-500">Loading…</p>;
  const { chat, messages, generations } = data;
  const models = chat.settings.adapters.map((a) => a ?? BASE);
  const last = messages.at(-1);
  const continueHref = `${models.length > 1 ? "/compare" : "/playground"}?${setupQuery(
    { models, mode: chat.settings.mode === "chat" ? "raw" : chat.settings.mode, inputs: last?.inputs ?? chat.settings.inputs, prompt: last?.content, params: chat.settings.params },
    models.length > 1,
  )}`;
  const slugName = chat.title.replace(/[^\w-]+/g, "-").slice(0, 40) || "chat";
  return (
    <div className="grid gap-6 lg:grid-cols-[14rem_minmax(0,1fr)]">
      <aside className="hidden lg:block">
        <HistorySidebar activeId={id} />
      </aside>
      <article className="flex min-w-0 flex-col gap-4">
        <header className="flex flex-wrap items-center gap-2">
          <HistoryDrawer activeId={id} />
          {editing === null ? (
            <h1 className="text-xl font-semibold" data-testid="chat-title">{chat.title}</h1>
          ) : (
            <form
              className="flex gap-2"
              onSubmit={(e) => {
                e.preventDefault();
                if (editing.trim()) rename.mutate({ id, title: editing });
              }}
            >
              <input aria-label="Title" data-testid="rename-input" value={editing} onChange={(e) => setEditing(e.target.value)} className="rounded border border-slate-300 px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900" autoFocus />
              <button type="submit" data-testid="rename-save" disabled={!editing.trim() || rename.isPending} title={editing.trim() ? undefined : "A title cannot be empty"} className="rounded bg-brand-600 px-2 py-1 text-sm text-white disabled:opacity-50">Save</button>
              <button type="button" onClick={() => setEditing(null)} className="text-sm">Cancel</button>
            </form>
          )}
          <span className="rounded bg-slate-100 px-2 py-0.5 text-xs dark:bg-slate-800">{chat.kind}</span>
          <div className="ml-auto flex flex-wrap gap-2 text-sm">
            {editing === null && <button type="button" data-testid="rename" onClick={() => setEditing(chat.title)} className="rounded border border-slate-300 px-2 py-1 dark:border-slate-700">Rename</button>}
            <button type="button" data-testid="export-md" onClick={() => download(`${slugName}.md`, "text/markdown", chatToMarkdown(data, feedback))} className="rounded border border-slate-300 px-2 py-1 dark:border-slate-700">Export Markdown</button>
            <button type="button" data-testid="export-json" onClick={() => download(`${slugName}.json`, "application/json", chatToJson(data, feedback))} className="rounded border border-slate-300 px-2 py-1 dark:border-slate-700">Export JSON</button>
            <ShareButton chatId={id} />
            <Link href={continueHref} data-testid="continue" className="rounded border border-slate-300 px-2 py-1 dark:border-slate-700">Continue</Link>
            <button
              type="button"
              data-testid="delete"
              onClick={() => {
                if (window.confirm("Delete this chat and its outputs?")) del.mutate({ id });
              }}
              className="rounded px-2 py-1 text-red-700 hover:bg-red-50 dark:text-red-300 dark:hover:bg-red-950"
            >
              Delete
            </button>
          </div>
        </header>
        {rename.error && <p role="alert" className="text-sm text-red-600">Rename failed: {friendlyError(rename.error)}</p>}
        <p className="text-xs break-words text-slate-500">Parameters: <code className="break-all">{paramsText(chat.settings.params)}</code></p>
        {groupTurns(messages).map((group) => (
          <TurnGroup
            key={group[0]!.id}
            turns={group}
            generations={generations}
            feedback={feedback}
            kindOf={kindOf}
            editHref={(m) =>
              `${models.length > 1 ? "/compare" : "/playground"}?${setupQuery(
                { models, mode: chat.settings.mode === "chat" ? "raw" : chat.settings.mode, inputs: m.inputs ?? chat.settings.inputs, prompt: m.content, params: chat.settings.params },
                models.length > 1,
              )}`
            }
          />
        ))}
      </article>
    </div>
  );
}
