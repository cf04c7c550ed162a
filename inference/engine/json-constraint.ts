/**
 * Structured output without a schema (`response_format: {"type": "json_object"}`): a JSON
 * automaton over characters, run over each vocabulary entry's text to mask the tokens that cannot
 * continue a valid JSON object. The answer is one JSON object; end-of-sequence is allowed only
 * once it is closed, and then it is the only token allowed.
 *
 * The automaton is a pushdown machine: `stack` holds the open containers ('{' or '['), `mode`
 * what may come next. A state is a short string (mode + stack + a little more), so masks are
 * cached per state: generations spend most steps in a few states (inside a string, after a value).
 * Whitespace between tokens of JSON is allowed up to MAX_WS characters in a row, so a model
 * cannot stall in whitespace forever.
 */

type Mode =
  | "start" // before the top-level object
  | "value" // a value must come
  | "key_or_end" // just after '{'
  | "key" // after ',' in an object
  | "colon" // after a key
  | "after" // after a value: ',' or a closer
  | "str" // inside a string
  | "esc" // after a backslash in a string
  | "hex" // inside \uXXXX (`n` hex digits left)
  | "num" // inside a number (`num` says where)
  | "lit" // inside true/false/null (`lit` holds the rest)
  | "done"; // the top-level object is closed

export interface State {
  mode: Mode;
  /** open containers, innermost last: '{' or '[' */
  stack: string;
  /** the string being read is an object key */
  key: boolean;
  /** hex digits left in \uXXXX */
  n: number;
  /** number sub-state: "-" sign, "0" leading zero, "i" integer digits, "." point, "f" fraction, "e" exponent mark, "s" exponent sign, "x" exponent digits */
  num: string;
  /** rest of a literal */
  lit: string;
  /** whitespace characters in a row */
  ws: number;
  /** just after '[': ']' may close at once */
  emptyArr: boolean;
}

const MAX_WS = 2;
const WS = new Set([" ", "\n", "\t", "\r"]);

const init = (): State => ({ mode: "start", stack: "", key: false, n: 0, num: "", lit: "", ws: 0, emptyArr: false });

function key(s: State): string {
  return `${s.mode}|${s.stack}|${s.key ? 1 : 0}|${s.n}|${s.num}|${s.lit}|${s.ws}|${s.emptyArr ? 1 : 0}`;
}

/** after a complete value: close up, or expect ',' / a closer */
function valueDone(s: State): State {
  return { ...s, mode: s.stack.length === 0 ? "done" : "after", key: false, num: "", lit: "", ws: 0, emptyArr: false };
}

/** the number sub-states where a number may end */
const NUM_END = new Set(["0", "i", "f", "x"]);

/** one character; null when it cannot continue valid JSON */
export function step(s: State, c: string): State | null {
  switch (s.mode) {
    case "done":
      return null;
    case "start":
      if (WS.has(c)) return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
      return c === "{" ? { ...s, mode: "key_or_end", stack: "{", ws: 0 } : null;
    case "key_or_end":
    case "key":
      if (WS.has(c)) return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
      if (c === '"') return { ...s, mode: "str", key: true, ws: 0 };
      if (c === "}" && s.mode === "key_or_end") return valueDone({ ...s, stack: s.stack.slice(0, -1) });
      return null;
    case "colon":
      if (WS.has(c)) return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
      return c === ":" ? { ...s, mode: "value", ws: 0 } : null;
    case "value":
      if (WS.has(c)) return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
      if (c === "]" && s.emptyArr) return valueDone({ ...s, stack: s.stack.slice(0, -1) });
      if (c === "{") return { ...s, mode: "key_or_end", stack: s.stack + "{", ws: 0, emptyArr: false };
      if (c === "[") return { ...s, mode: "value", stack: s.stack + "[", ws: 0, emptyArr: true };
      if (c === '"') return { ...s, mode: "str", key: false, ws: 0, emptyArr: false };
      if (c === "-") return { ...s, mode: "num", num: "-", ws: 0, emptyArr: false };
      if (c === "0") return { ...s, mode: "num", num: "0", ws: 0, emptyArr: false };
      if (c >= "1" && c <= "9") return { ...s, mode: "num", num: "i", ws: 0, emptyArr: false };
      if (c === "t") return { ...s, mode: "lit", lit: "rue", ws: 0, emptyArr: false };
      if (c === "f") return { ...s, mode: "lit", lit: "alse", ws: 0, emptyArr: false };
      if (c === "n") return { ...s, mode: "lit", lit: "ull", ws: 0, emptyArr: false };
      return null;
    case "after": {
      if (WS.has(c)) return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
      const top = s.stack[s.stack.length - 1];
      if (c === ",") return top === "{" ? { ...s, mode: "key", ws: 0 } : { ...s, mode: "value", ws: 0 };
      if ((c === "}" && top === "{") || (c === "]" && top === "[")) return valueDone({ ...s, stack: s.stack.slice(0, -1) });
      return null;
    }
    case "str":
      if (c === '"') return s.key ? { ...s, mode: "colon", key: false, ws: 0 } : valueDone(s);
      if (c === "\\") return { ...s, mode: "esc" };
      return c < " " ? null : s; // control characters must be escaped
    case "esc":
      if (c === "u") return { ...s, mode: "hex", n: 4 };
      return '"\\/bfnrt'.includes(c) ? { ...s, mode: "str" } : null;
    case "hex":
      if (!/[0-9a-fA-F]/.test(c)) return null;
      return s.n > 1 ? { ...s, n: s.n - 1 } : { ...s, mode: "str", n: 0 };
    case "lit":
      if (c !== s.lit[0]) return null;
      return s.lit.length > 1 ? { ...s, lit: s.lit.slice(1) } : valueDone(s);
    case "num": {
      const d = c >= "0" && c <= "9";
      const n = s.num;
      if (n === "-") return c === "0" ? { ...s, num: "0" } : d ? { ...s, num: "i" } : null;
      if ((n === "0" || n === "i") && c === ".") return { ...s, num: "." };
      if (n === "i" && d) return s;
      if ((n === "." || n === "f") && d) return { ...s, num: "f" };
      if ((n === "0" || n === "i" || n === "f") && (c === "e" || c === "E")) return { ...s, num: "e" };
      if (n === "e" && (c === "+" || c === "-")) return { ...s, num: "s" };
      if ((n === "e" || n === "s" || n === "x") && d) return { ...s, num: "x" };
      // anything else ends the number (when it may end) and is read after it
      return NUM_END.has(n) ? step(valueDone(s), c) : null;
    }
  }
}

/** what the constraint needs from the vocabulary: each id's text (null: never allowed) */
export interface ConstraintVocab {
  /** text of each token as it appears in the output; byte tokens as their byte ("\u0080".."\u00ff" for non-ASCII) */
  texts: (string | null)[];
  eosIds: ReadonlySet<number>;
}

/** masks per state key, shared by every request over one vocabulary (bounded) */
const MASK_CACHE = new WeakMap<ConstraintVocab, Map<string, Uint8Array>>();
const MAX_CACHED = 4096;

/** One request's JSON constraint: `mask()` before sampling, `accept(id)` after. */
export class JsonConstraint {
  private state: State = init();

  constructor(private readonly vocab: ConstraintVocab) {}

  get done(): boolean {
    return this.state.mode === "done";
  }

  /** 1 where the token may come next: (vocab) */
  mask(): Uint8Array {
    let cache = MASK_CACHE.get(this.vocab);
    if (!cache) MASK_CACHE.set(this.vocab, (cache = new Map()));
    const k = key(this.state);
    let m = cache.get(k);
    if (!m) {
      m = this.compute();
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(k, m);
    }
    return m;
  }

  accept(id: number): void {
    if (this.vocab.eosIds.has(id)) return;
    const next = run(this.state, this.vocab.texts[id] ?? "");
    if (next) this.state = next; // (a masked-out token can only come from a caller bug: the state stays)
  }

  private compute(): Uint8Array {
    const { texts, eosIds } = this.vocab;
    const m = new Uint8Array(texts.length);
    if (this.state.mode === "done") {
      for (const id of eosIds) if (id < m.length) m[id] = 1;
      return m;
    }
    for (let id = 0; id < texts.length; id++) {
      const t = texts[id];
      if (t && run(this.state, t)) m[id] = 1;
    }
    return m;
  }
}

function run(s: State, text: string): State | null {
  let cur: State | null = s;
  for (let i = 0; i < text.length && cur; i++) {
    const c = text[i]!;
    // a non-ASCII byte or character is only ever part of a string
    if (c > "\u007f") cur = cur.mode === "str" ? cur : null;
    else cur = step(cur, c);
  }
  return cur;
}

/** every character of `text` accepted, and the object closed (tests) */
export function isCompleteJsonObject(text: string): boolean {
  const s = run(init(), text);
  return s !== null && s.mode === "done";
}
