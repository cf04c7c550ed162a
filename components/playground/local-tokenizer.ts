/**
 * The prompt's token count computed in the browser: the base model's `tokenizer.json` +
 * `tokenizer_config.json` (GET /api/tokenizer) through `@huggingface/tokenizers`, the library the
 * worker tokenizes with (inference/tokenizer/tokenizer.ts), so the count is the worker's
 * `POST /tokenize` count: the ids of `encode(text)` with the post-processor's special tokens (BOS).
 * The hook (usePromptTokens) imports this module lazily, so the library and the tokenizer file
 * load only on pages that count tokens, after the first render. Also imported by the route to
 * check the served tokenizer against the worker's own count before handing it out.
 */
import { Tokenizer } from "@huggingface/tokenizers";

/** what GET /api/tokenizer answers when it has a tokenizer for the browser */
export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

/** what it answers when it has none: the worker counts */
export interface NoTokenizer {
  tokenizer: null;
  config: null;
  reason: string;
}

export interface LocalCounter {
  count(text: string): number;
}

/** a counter over the two files; throws when the library cannot build the tokenizer */
export function localCounter(files: TokenizerFiles): LocalCounter {
  const hf = new Tokenizer(files.tokenizer, files.config);
  // the worker's Engine.encode: addSpecialTokens true (BOS counts, as it does in /tokenize's spans)
  return { count: (text) => hf.encode(text, { add_special_tokens: true }).ids.length };
}

let loading: Promise<LocalCounter | null> | null = null;

/**
 * The page's counter, fetched once per page load (the route answers with an ETag, so a reload
 * revalidates instead of downloading again); null when the server has none to give (an external
 * worker whose tokenizer it cannot vouch for, or one too big) or it does not load.
 */
export function loadLocalCounter(): Promise<LocalCounter | null> {
  loading ??= fetch("/api/tokenizer", { cache: "no-cache" })
    .then(async (res) => {
      const body = res.ok ? ((await res.json()) as TokenizerFiles | NoTokenizer) : null;
      return body?.tokenizer ? localCounter(body as TokenizerFiles) : null;
    })
    .catch(() => null);
  return loading;
}
