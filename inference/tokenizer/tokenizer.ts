/**
 * The model's tokenizer: `tokenizer.json` + `tokenizer_config.json` through
 * `@huggingface/tokenizers` (BPE with byte fallback, Metaspace, byte-level BPE), plus what the
 * engine needs around it: BOS/EOS, which ids are special, and the chat template.
 */
import { readFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { ModelLoadError } from "../errors";

type Json = Record<string, unknown>;

function tokenContent(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Json).content === "string") return (v as Json).content as string;
  return null;
}

async function readJsonFile(file: string): Promise<Json> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as Json;
  } catch (err) {
    throw new ModelLoadError(`cannot read ${path.basename(file)}: ${(err as Error).message}`, { field: path.basename(file), cause: err });
  }
}

export class Tokenizer {
  readonly bosId: number | null;
  readonly eosIds: number[];
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;
  readonly vocabSize: number;
  private readonly specialIds: Set<number>;

  private constructor(private readonly hf: HfTokenizer, json: Json, config: Json, chatTemplateFile: string | null) {
    const added = (Array.isArray(json.added_tokens) ? json.added_tokens : []) as { id: number; content: string; special?: boolean }[];
    this.specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    this.bosToken = tokenContent(config.bos_token);
    this.eosToken = tokenContent(config.eos_token);
    this.bosId = this.bosToken === null ? null : (hf.token_to_id(this.bosToken) ?? null);
    const eos = this.eosToken === null ? undefined : hf.token_to_id(this.eosToken);
    this.eosIds = eos === undefined ? [] : [eos];
    const tpl = config.chat_template;
    if (typeof tpl === "string") this.chatTemplate = tpl;
    else if (Array.isArray(tpl)) {
      const named = tpl as { name?: string; template?: string }[];
      this.chatTemplate = (named.find((t) => t.name === "default") ?? named[0])?.template ?? null;
    } else this.chatTemplate = chatTemplateFile;
    this.vocabSize = hf.get_vocab(true).size;
  }

  static async load(dir: string): Promise<Tokenizer> {
    const jsonFile = path.join(dir, "tokenizer.json");
    if (!existsSync(jsonFile)) throw new ModelLoadError(`${dir}: no tokenizer.json`, { field: "tokenizer.json" });
    const json = await readJsonFile(jsonFile);
    const configFile = path.join(dir, "tokenizer_config.json");
    const config = existsSync(configFile) ? await readJsonFile(configFile) : {};
    const templateFile = path.join(dir, "chat_template.jinja");
    const template = existsSync(templateFile) ? await readFile(templateFile, "utf8") : null;
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(json, config);
    } catch (err) {
      throw new ModelLoadError(`tokenizer.json cannot be used: ${(err as Error).message}`, { field: "tokenizer.json", cause: err });
    }
    return new Tokenizer(hf, json, config, template);
  }

  /** ids as transformers' `tokenizer(text)` gives them (post-processor special tokens included by default) */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.hf.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }
}

/**
 * Bytes of text one token can stand for, at most: the longest vocabulary or added token in UTF-8
 * (a Metaspace "▁" or a byte-level BPE character is at least as long as the byte it stands for),
 * times 3 when a normalizer could shrink the text first (NFKC "ﬁ" -> "fi", stripped accents).
 * A prompt of more than `maxContext * maxTokenBytes(dir)` bytes cannot fit in `maxContext`
 * tokens, so the worker refuses it before spending seconds tokenizing it.
 */
export function maxTokenBytes(dir: string): number {
  const json = JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as Json;
  const model = (json.model ?? {}) as Json;
  const vocab = model.vocab;
  const pieces: string[] = Array.isArray(vocab) ? vocab.map((v) => (Array.isArray(v) ? String(v[0]) : String(v))) : Object.keys((vocab ?? {}) as Json);
  for (const t of (Array.isArray(json.added_tokens) ? json.added_tokens : []) as { content?: unknown }[]) if (typeof t.content === "string") pieces.push(t.content);
  let longest = 1;
  for (const p of pieces) longest = Math.max(longest, Buffer.byteLength(p));
  const shrinking = (n: unknown): boolean => {
    if (!n || typeof n !== "object") return false;
    const o = n as Json;
    if (o.type === "Sequence" && Array.isArray(o.normalizers)) return o.normalizers.some(shrinking);
    return !["Prepend", "Replace"].includes(String(o.type));
  };
  return longest * (shrinking(json.normalizer) ? 3 : 1);
}
