"use client";
/**
 * "Use via API": the same request as curl and with the openai SDK. Against the worker's public
 * address (PUBLIC_INFERENCE_URL) when the server names one (curl on LoRAX /generate); else through
 * this site's keyed /api/v1 proxy (OpenAI routes, the admin token), since the worker's own address
 * (`workerUrl`, what the web server uses) is usually not reachable by people.
 */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { GenerationParams } from "../../db/schema/chats";
import { useTRPC } from "@/trpc/react";
import { curlSnippet, openaiSnippet, proxyCurlSnippet } from "./api-snippets";

export function ApiSnippets(props: { workerUrl: string; adapterId: string | null; baseModelId: string; prompt: string; params: GenerationParams }) {
  const trpc = useTRPC();
  // the same query the playground polls (shared cache): no extra request
  const api = useQuery(trpc.status.worker.queryOptions()).data?.api;
  const publicUrl = api?.url ?? null;
  const siteApi = `${typeof window === "undefined" ? "" : window.location.origin}/api`;
  const model = props.adapterId ?? props.baseModelId;
  const [tab, setTab] = useState<"curl" | "openai">("curl");
  const code =
    tab === "curl"
      ? publicUrl
        ? curlSnippet(publicUrl, props.adapterId, props.prompt, props.params)
        : proxyCurlSnippet(`${siteApi}/v1`, model, props.prompt, props.params)
      : publicUrl
        ? openaiSnippet(publicUrl, model, props.prompt, props.params)
        : openaiSnippet(siteApi, model, props.prompt, props.params, true);
  return (
    <details className="rounded-lg border border-zinc-200 dark:border-zinc-800" data-testid="api-snippets">
      <summary className="cursor-pointer px-3 py-2 text-sm font-semibold">Use via API</summary>
      <div className="flex gap-1 px-3" role="tablist">
        {(["curl", "openai"] as const).map((t) => (
          <button
            key={t}
            role="tab"
            type="button"
            aria-selected={tab === t}
            data-testid={`snippet-tab-${t}`}
            onClick={() => setTab(t)}
            className={`rounded-t px-2 py-1 text-xs ${tab === t ? "bg-zinc-100 font-semibold dark:bg-zinc-800" : ""}`}
          >
            {t === "curl" ? (publicUrl ? "curl (LoRAX)" : "curl") : "openai SDK"}
          </button>
        ))}
        <button type="button" className="ml-auto text-xs underline" onClick={() => void navigator.clipboard?.writeText(code)}>
          copy
        </button>
      </div>
      {api?.note && (
        <p data-testid="snippet-note" className="mx-3 mb-1 text-xs text-amber-700 dark:text-amber-400">
          {api.note}
        </p>
      )}
      <pre data-testid="snippet-code" className="mx-3 mb-3 max-h-72 overflow-auto rounded bg-zinc-100 p-2 text-xs dark:bg-zinc-900">
        {code}
      </pre>
    </details>
  );
}
