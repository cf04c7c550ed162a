/**
 * Chat prompts: the `chat_template` of `tokenizer_config.json` (the adapter's own when its folder
 * has one, else the base model's) rendered with @huggingface/jinja, as transformers'
 * `apply_chat_template(..., add_generation_prompt=True)` does. No template -> 422.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { HttpError } from "./errors";

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new HttpError(422, "chat_template_invalid", `the chat template does not parse: ${(e as Error).message}`, { field: "messages" });
    }
    if (compiled.size > 32) compiled.clear();
    compiled.set(source, t);
  }
  return t;
}

/** `chat_template` of a tokenizer_config.json: a string, or a list of named templates ("default" first) */
export function templateFromTokenizerConfig(config: unknown): string | null {
  const t = (config as { chat_template?: unknown } | null)?.chat_template;
  if (typeof t === "string" && t.trim()) return t;
  if (Array.isArray(t)) {
    const named = t as { name?: string; template?: string }[];
    const pick = named.find((x) => x.name === "default") ?? named[0];
    return typeof pick?.template === "string" ? pick.template : null;
  }
  return null;
}

/** an adapter folder's own chat template (tokenizer_config.json or chat_template.jinja), null when none */
export async function adapterChatTemplate(dir: string): Promise<string | null> {
  try {
    return await fs.readFile(path.join(dir, "chat_template.jinja"), "utf8");
  } catch {
    // no separate file
  }
  try {
    return templateFromTokenizerConfig(JSON.parse(await fs.readFile(path.join(dir, "tokenizer_config.json"), "utf8")));
  } catch {
    return null;
  }
}

export function renderChat(
  template: string | null,
  messages: ChatMessage[],
  special: { bos: string | null; eos: string | null },
  what: string,
): string {
  if (!template) {
    throw new HttpError(422, "chat_template_missing", `${what} has no chat template (tokenizer_config.json has no chat_template); use /v1/completions with a plain prompt`, { field: "messages" });
  }
  try {
    return compile(template).render({
      messages,
      bos_token: special.bos ?? "",
      eos_token: special.eos ?? "",
      add_generation_prompt: true,
    });
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(422, "chat_template_error", `the chat template refused these messages: ${(e as Error).message}`, { field: "messages" });
  }
}
