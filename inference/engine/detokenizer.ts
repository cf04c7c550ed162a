/**
 * Streaming detokenization (the vLLM / HF TextStreamer incremental approach).
 *
 * Decoding one token at a time is wrong for two reasons: a byte-fallback or byte-level token
 * may carry only part of a UTF-8 character, and decoders (Metaspace, cleanup) change how a
 * token renders depending on what precedes it (a leading space is dropped at the start of a
 * text). So each step decodes a short window of ids that starts before the new ones
 * (`prefixOffset`) and emits what the window's text gained over the text up to `readOffset`.
 * Text ending in U+FFFD (an incomplete character) is held until the next token completes it.
 * The window starts inside the prompt, so the first generated token keeps its leading space.
 *
 * Invariant (tested): the emitted pieces concatenated equal
 *   decode(prompt + generated).slice(decode(prompt).length)   (special tokens skipped)
 * whenever decode(prompt) is a prefix of decode(prompt + generated), as it is for the BPE
 * tokenizers served here.
 */

/** the part of the tokenizer the detokenizer needs */
export interface DecodingTokenizer {
  decode(ids: number[], opts: { skipSpecialTokens: boolean }): string;
}

/** how many prompt tokens of context the first window includes (vLLM uses the same 5) */
const INITIAL_CONTEXT = 5;

/**
 * Each token's text when it follows other text: decode([id, id]) minus decode([id]); null when
 * that is not a clean continuation (special tokens, partial UTF-8 characters, no text). Per
 * tokenizer, filled on first use: the two decode calls per generated token are most of the
 * engine's own per-token cost, and most tokens are such plain pieces.
 */
const PIECES = new WeakMap<DecodingTokenizer, Map<number, string | null>>();

function pieceText(tokenizer: DecodingTokenizer, id: number): string | null {
  let memo = PIECES.get(tokenizer);
  if (!memo) PIECES.set(tokenizer, (memo = new Map()));
  let t = memo.get(id);
  if (t === undefined) {
    const one = tokenizer.decode([id], { skipSpecialTokens: true });
    const two = tokenizer.decode([id, id], { skipSpecialTokens: true });
    // (a lone "▁" decodes to "" first and " " after text: its piece is the space)
    t = two.startsWith(one) && !two.includes("\uFFFD") && two.length > one.length ? two.slice(one.length) : null;
    memo.set(id, t);
  }
  return t;
}

export class StreamingDetokenizer {
  private readonly tokenizer: DecodingTokenizer;
  private readonly ids: number[];
  private prefixOffset: number;
  private readOffset: number;
  /** text was decoded before the next token: a plain piece then adds its own text (decoders strip only at the start) */
  private hasText: boolean | null = null;

  constructor(tokenizer: DecodingTokenizer, promptIds: readonly number[]) {
    this.tokenizer = tokenizer;
    this.ids = promptIds.slice(Math.max(0, promptIds.length - INITIAL_CONTEXT));
    this.readOffset = this.ids.length;
    this.prefixOffset = 0;
  }

  /** add one generated token; returns the text it completes ("" while a character is incomplete) */
  push(id: number): string {
    if (this.readOffset === this.ids.length) {
      // nothing pending: a plain piece after text is that piece (no decode)
      this.hasText ??= this.decode(this.prefixOffset, this.readOffset) !== "";
      const piece = this.hasText ? pieceText(this.tokenizer, id) : null;
      if (piece !== null) {
        this.ids.push(id);
        this.advance();
        return piece;
      }
    }
    this.ids.push(id);
    const prefixText = this.decode(this.prefixOffset, this.readOffset);
    const fullText = this.decode(this.prefixOffset, this.ids.length);
    if (fullText.length > prefixText.length && !fullText.endsWith("\uFFFD") && fullText.startsWith(prefixText)) {
      this.advance();
      this.hasText = true;
      return fullText.slice(prefixText.length);
    }
    return "";
  }

  /** text of tokens pushed but not yet emitted (an incomplete character at the very end) */
  flush(): string {
    if (this.readOffset >= this.ids.length) return "";
    const prefixText = this.decode(this.prefixOffset, this.readOffset);
    const fullText = this.decode(this.prefixOffset, this.ids.length);
    this.advance();
    return fullText.startsWith(prefixText) ? fullText.slice(prefixText.length) : "";
  }

  private advance(): void {
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    // drop ids before the window so the buffer stays small on long generations
    if (this.prefixOffset > 64) {
      this.ids.splice(0, this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
  }

  private decode(from: number, to: number): string {
    if (to <= from) return "";
    return this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: true });
  }
}
