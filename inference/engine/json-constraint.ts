/**
 * Structured output: a JSON automaton driven by a JSON schema (`response_format` with a schema),
 * or by "any object" (`{"type": "json_object"}` alone), masking the tokens that cannot continue
 * a document the schema accepts. End-of-sequence is allowed only once the value is complete.
 *
 * - `compileSchema` turns a schema into a graph of nodes once (cached by its JSON text); the
 *   supported subset: type (one or a list), object with properties / required /
 *   additionalProperties, array with items / minItems / maxItems, string, number, integer,
 *   boolean, null, enum, const, anyOf / oneOf whose branches start with different characters,
 *   local $ref ($defs / definitions, recursion included), and the annotations (title,
 *   description, default, examples...). Any other keyword is a SchemaError naming its path.
 *   Objects are written with their declared properties only (each at most once, in any order,
 *   the required ones before '}'); an object without `properties` takes any keys.
 * - The automaton is a pushdown machine over characters: a state is a stack of frames (root,
 *   object, array, string, number, literal, enum), immutable, with a short key. Masks are cached
 *   per (schema, vocabulary, state key), so generations mostly hit the cache (inside a string,
 *   after a value); a miss walks the vocabulary's trie once, sharing common prefixes.
 * - Whitespace between JSON tokens is allowed up to MAX_WS characters in a row, so a model
 *   cannot stall in it. Nesting is capped at MAX_DEPTH.
 */

// ---- schemas -----------------------------------------------------------------------------

export type Node =
  | { k: "any"; id: number }
  | { k: "object"; id: number; props: Prop[] | null; required: string }
  | { k: "array"; id: number; items: Node; min: number; max: number }
  | { k: "string"; id: number }
  | { k: "number"; id: number; int: boolean }
  | { k: "boolean"; id: number }
  | { k: "null"; id: number }
  | { k: "enum"; id: number; texts: string[] }
  | { k: "union"; id: number; of: Node[] };

interface Prop {
  name: string;
  /** the name as it is written between the quotes */
  enc: string;
  node: Node;
}

/** a compiled schema: its root node and its masks, per vocabulary and state */
export interface CompiledSchema {
  root: Node;
  /** JSON text of the schema, or "json_object" */
  key: string;
  masks: WeakMap<ConstraintVocab, Map<string, Uint8Array>>;
}

/** an unsupported or malformed schema; `path` leads to the keyword at fault */
export class SchemaError extends Error {
  constructor(readonly path: (string | number)[], message: string) {
    super(message);
    this.name = "SchemaError";
  }
}

const ANNOTATIONS = new Set(["title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"]);
const KEYWORDS: Record<string, Set<string>> = {
  object: new Set(["type", "properties", "required", "additionalProperties"]),
  array: new Set(["type", "items", "minItems", "maxItems"]),
  string: new Set(["type"]),
  number: new Set(["type"]),
  integer: new Set(["type"]),
  boolean: new Set(["type"]),
  null: new Set(["type"]),
};
const TYPES = Object.keys(KEYWORDS);
const MAX_PROPS = 256;

type Json = Record<string, unknown>;

/** one schema -> its nodes; throws SchemaError naming the path of what is not supported */
export function compileSchema(schema: unknown): CompiledSchema {
  let nextId = 0;
  const refs = new Map<string, Node>();
  const root = schema as Json;

  const compile = (s: unknown, path: (string | number)[]): Node => {
    if (s === true) return { k: "any", id: nextId++ };
    if (!s || typeof s !== "object" || Array.isArray(s)) throw new SchemaError(path, "a schema must be an object (or true)");
    const o = s as Json;
    const keys = Object.keys(o).filter((k) => !ANNOTATIONS.has(k));
    if (typeof o.$ref === "string") {
      if (keys.length > 1) throw new SchemaError(path, "$ref next to other keywords is not supported");
      return ref(o.$ref, [...path, "$ref"]);
    }
    if ("enum" in o || "const" in o) {
      const kw = "enum" in o ? "enum" : "const";
      const values = kw === "enum" ? o.enum : [o.const];
      if (!Array.isArray(values) || values.length === 0) throw new SchemaError([...path, kw], "enum must be a non-empty list");
      const other = keys.find((k) => k !== kw && k !== "type");
      if (other) throw new SchemaError([...path, other], `"${other}" next to ${kw} is not supported`);
      return { k: "enum", id: nextId++, texts: [...new Set(values.map((v) => JSON.stringify(v)))] };
    }
    for (const kw of ["anyOf", "oneOf"]) {
      if (!(kw in o)) continue;
      const other = keys.find((k) => k !== kw);
      if (other) throw new SchemaError([...path, other], `"${other}" next to ${kw} is not supported`);
      const branches = o[kw];
      if (!Array.isArray(branches) || branches.length === 0) throw new SchemaError([...path, kw], `${kw} must be a non-empty list of schemas`);
      return union(branches.map((b, i) => compile(b, [...path, kw, i])), [...path, kw]);
    }
    if (!("type" in o)) {
      // no type: only an empty schema (anything) is supported
      if (keys.length > 0) throw new SchemaError([...path, keys[0]!], `keyword "${keys[0]}" without "type" is not supported`);
      return { k: "any", id: nextId++ };
    }
    const types = Array.isArray(o.type) ? o.type : [o.type];
    if (types.length === 0 || types.some((t) => typeof t !== "string" || !TYPES.includes(t))) {
      throw new SchemaError([...path, "type"], `type must be one of ${TYPES.join(", ")} (or a list of them), got ${JSON.stringify(o.type)}`);
    }
    for (const k of keys) {
      if (!types.some((t) => KEYWORDS[t as string]!.has(k))) throw new SchemaError([...path, k], `keyword "${k}" is not supported${types.length === 1 ? ` for type ${types[0]}` : ""}`);
    }
    const nodes = (types as string[]).map((t) => ofType(t, o, path));
    return nodes.length === 1 ? nodes[0]! : union(nodes, [...path, "type"]);
  };

  const ofType = (t: string, o: Json, path: (string | number)[]): Node => {
    const id = nextId++;
    switch (t) {
      case "string":
      case "boolean":
      case "null":
        return { k: t, id };
      case "number":
      case "integer":
        return { k: "number", id, int: t === "integer" };
      case "array": {
        const min = count(o.minItems, [...path, "minItems"], 0);
        const max = count(o.maxItems, [...path, "maxItems"], Infinity);
        if (min > max) throw new SchemaError([...path, "minItems"], "minItems is above maxItems");
        return { k: "array", id, items: o.items === undefined ? { k: "any", id: nextId++ } : compile(o.items, [...path, "items"]), min, max };
      }
      default: {
        const ap = o.additionalProperties;
        if (ap !== undefined && typeof ap !== "boolean") throw new SchemaError([...path, "additionalProperties"], "additionalProperties as a schema is not supported (true or false are)");
        if (o.properties === undefined) {
          if (o.required !== undefined) throw new SchemaError([...path, "required"], "required without properties is not supported");
          // additionalProperties false and no properties: only {}
          return ap === false ? { k: "object", id, props: [], required: "" } : { k: "object", id, props: null, required: "" };
        }
        const ps = o.properties;
        if (!ps || typeof ps !== "object" || Array.isArray(ps)) throw new SchemaError([...path, "properties"], "properties must be an object");
        const names = Object.keys(ps);
        if (names.length > MAX_PROPS) throw new SchemaError([...path, "properties"], `at most ${MAX_PROPS} properties are supported`);
        const req = o.required ?? [];
        if (!Array.isArray(req) || req.some((r) => typeof r !== "string")) throw new SchemaError([...path, "required"], "required must be a list of property names");
        const missing = (req as string[]).find((r) => !names.includes(r));
        if (missing !== undefined) throw new SchemaError([...path, "required"], `required property "${missing}" is not in properties`);
        const node: Node = { k: "object", id, props: [], required: names.map((n) => (req.includes(n) ? "1" : "0")).join("") };
        for (const n of names) node.props!.push({ name: n, enc: JSON.stringify(n).slice(1, -1), node: compile((ps as Json)[n], [...path, "properties", n]) });
        return node;
      }
    }
  };

  const ref = (r: string, path: (string | number)[]): Node => {
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(r);
    if (!m) throw new SchemaError(path, `only local references to #/$defs/<name> or #/definitions/<name> are supported, got "${r}"`);
    const known = refs.get(r);
    if (known) return known;
    const target = (root[m[1]!] as Json | undefined)?.[decodeURIComponent(m[2]!).replace(/~1/g, "/").replace(/~0/g, "~")];
    if (target === undefined) throw new SchemaError(path, `reference "${r}" is not defined`);
    // a placeholder first, filled in place: recursive schemas point back at it
    const node = { k: "any", id: -1 } as Node;
    refs.set(r, node);
    Object.assign(node, compile(target, [m[1]!, m[2]!]));
    return node;
  };

  const union = (of: Node[], path: (string | number)[]): Node => {
    const flat = of.flatMap((n) => (n.k === "union" ? n.of : [n]));
    const seen = new Map<string, number>();
    flat.forEach((n, i) => {
      for (const c of firstChars(n)) {
        if (seen.has(c)) throw new SchemaError(path, `branches ${seen.get(c)} and ${i} can both start with ${JSON.stringify(c)}; only branches that start differently are supported`);
        seen.set(c, i);
      }
    });
    return { k: "union", id: nextId++, of: flat };
  };

  const count = (v: unknown, path: (string | number)[], dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || (v as number) < 0) throw new SchemaError(path, "must be a non-negative integer");
    return v as number;
  };

  return { root: compile(schema, []), key: JSON.stringify(schema), masks: new WeakMap() };
}

const NUM_START = "-0123456789";
function firstChars(n: Node): string[] {
  switch (n.k) {
    case "any": return ["{", "[", '"', "t", "f", "n", ...NUM_START];
    case "object": return ["{"];
    case "array": return ["["];
    case "string": return ['"'];
    case "number": return [...NUM_START];
    case "boolean": return ["t", "f"];
    case "null": return ["n"];
    case "enum": return [...new Set(n.texts.map((t) => t[0]!))];
    case "union": return n.of.flatMap(firstChars);
  }
}

const COMPILED = new Map<string, CompiledSchema>();
const MAX_SCHEMAS = 256;
/** `{"type": "json_object"}` without a schema: any one object */
export const ANY_OBJECT: CompiledSchema = { root: { k: "object", id: 0, props: null, required: "" }, key: "json_object", masks: new WeakMap() };

/** compiled once per schema text (the masks come with it) */
export function cachedSchema(schema: unknown): CompiledSchema {
  const key = JSON.stringify(schema);
  let c = COMPILED.get(key);
  if (!c) {
    c = compileSchema(schema);
    if (COMPILED.size >= MAX_SCHEMAS) COMPILED.delete(COMPILED.keys().next().value!);
    COMPILED.set(key, c);
  }
  return c;
}

// ---- the automaton -----------------------------------------------------------------------

type Frame =
  | { t: "root"; node: Node; ph: "pre" | "val" | "done"; ws: number }
  // object phases: open (after '{'), key (a declared name being read), fkey (any name, a string frame above), colon, pre (value next), val (value above), after, next (after ',')
  | { t: "obj"; node: Extract<Node, { k: "object" }>; ph: "open" | "key" | "fkey" | "colon" | "pre" | "val" | "after" | "next"; seen: string; kbuf: string; cur: number; ws: number }
  | { t: "arr"; node: Extract<Node, { k: "array" }>; ph: "open" | "pre" | "val" | "after"; n: number; ws: number }
  | { t: "str"; ph: "s" | "e" | "h"; h: number }
  | { t: "num"; int: boolean; sub: string }
  | { t: "lit"; rest: string }
  | { t: "enum"; node: Extract<Node, { k: "enum" }>; typed: string };

export type State = readonly Frame[];

const MAX_WS = 2;
const MAX_DEPTH = 32;
const WS = " \n\t\r";
const ANY: Node = { k: "any", id: -2 };
/** the number sub-states where a number may end */
const NUM_END = new Set(["0", "i", "f", "x"]);

export function initialState(schema: CompiledSchema): State {
  return [{ t: "root", node: schema.root, ph: "pre", ws: 0 }];
}

function frameKey(f: Frame): string {
  switch (f.t) {
    case "root": return `R${f.node.id}${f.ph}${f.ws}`;
    case "obj": return `O${f.node.id}${f.ph}${f.seen}|${f.kbuf}|${f.cur}|${f.ws}`;
    case "arr": return `A${f.node.id}${f.ph}${Math.min(f.n, f.node.max === Infinity ? f.node.min : Math.max(f.node.min, f.node.max))}|${f.ws}`;
    case "str": return `S${f.ph}${f.h}`;
    case "num": return `N${f.int ? 1 : 0}${f.sub}`;
    case "lit": return `L${f.rest}`;
    case "enum": return `E${f.node.id}|${f.typed}`;
  }
}

export function stateKey(s: State): string {
  let k = "";
  for (const f of s) k += frameKey(f) + "/";
  return k;
}

const replaceTop = (s: State, f: Frame): State => [...s.slice(0, -1), f];

/** the top frame's value is complete: pop it and move its parent on */
function complete(s: State): State {
  const rest = s.slice(0, -1);
  const p = rest[rest.length - 1]!;
  switch (p.t) {
    case "root": return replaceTop(rest, { ...p, ph: "done", ws: 0 });
    case "obj": return replaceTop(rest, { ...p, ph: p.ph === "fkey" ? "colon" : "after", ws: 0 });
    case "arr": return replaceTop(rest, { ...p, ph: "after", n: p.n + 1, ws: 0 });
    default: throw new Error("a value frame cannot hold a value");
  }
}

/** push the frame of a value of `node` starting with `c` (the parent already moved to its "val" phase) */
function start(s: State, node: Node, c: string): State | null {
  if (s.length >= MAX_DEPTH) return null;
  switch (node.k) {
    case "any":
      if (c === "{") return [...s, { t: "obj", node: { k: "object", id: -3, props: null, required: "" }, ph: "open", seen: "", kbuf: "", cur: -1, ws: 0 }];
      if (c === "[") return [...s, { t: "arr", node: { k: "array", id: -4, items: ANY, min: 0, max: Infinity }, ph: "open", n: 0, ws: 0 }];
      if (c === '"') return [...s, { t: "str", ph: "s", h: 0 }];
      if (c === "t" || c === "f" || c === "n") return [...s, { t: "lit", rest: c === "t" ? "rue" : c === "f" ? "alse" : "ull" }];
      return startNumber(s, false, c);
    case "object":
      return c === "{" ? [...s, { t: "obj", node, ph: "open", seen: node.props ? "0".repeat(node.props.length) : "", kbuf: "", cur: -1, ws: 0 }] : null;
    case "array":
      return c === "[" ? [...s, { t: "arr", node, ph: "open", n: 0, ws: 0 }] : null;
    case "string":
      return c === '"' ? [...s, { t: "str", ph: "s", h: 0 }] : null;
    case "number":
      return startNumber(s, node.int, c);
    case "boolean":
      return c === "t" ? [...s, { t: "lit", rest: "rue" }] : c === "f" ? [...s, { t: "lit", rest: "alse" }] : null;
    case "null":
      return c === "n" ? [...s, { t: "lit", rest: "ull" }] : null;
    case "enum": {
      if (!node.texts.some((t) => t[0] === c)) return null;
      const pushed: State = [...s, { t: "enum", node, typed: c }];
      return enumDone(node, c) ? complete(pushed) : pushed;
    }
    case "union":
      for (const b of node.of) {
        const r = start(s, b, c);
        if (r) return r;
      }
      return null;
  }
}

function startNumber(s: State, int: boolean, c: string): State | null {
  if (c === "-") return [...s, { t: "num", int, sub: "-" }];
  if (c === "0") return [...s, { t: "num", int, sub: "0" }];
  if (c >= "1" && c <= "9") return [...s, { t: "num", int, sub: "i" }];
  return null;
}

/** `typed` is a whole enum value that no other value continues */
function enumDone(node: Extract<Node, { k: "enum" }>, typed: string): boolean {
  return node.texts.includes(typed) && !node.texts.some((t) => t.length > typed.length && t.startsWith(typed));
}

/** whitespace in a frame that allows it between JSON tokens */
function ws(s: State, f: Frame & { ws: number }): State | null {
  return f.ws < MAX_WS ? replaceTop(s, { ...f, ws: f.ws + 1 } as Frame) : null;
}

/** one character; null when no document of the schema continues this way */
export function step(s: State, c: string): State | null {
  const f = s[s.length - 1]!;
  switch (f.t) {
    case "root":
      if (f.ph !== "pre") return null;
      if (WS.includes(c)) return ws(s, f);
      return start(replaceTop(s, { ...f, ph: "val", ws: 0 }), f.node, c);
    case "obj": {
      const props = f.node.props;
      const left = props ? props.some((_, i) => f.seen[i] === "0") : true;
      const closable = () => !props || [...f.node.required].every((r, i) => r === "0" || f.seen[i] === "1");
      const close = () => complete(s);
      switch (f.ph) {
        case "open":
        case "next":
          if (WS.includes(c)) return ws(s, f);
          if (c === "}" && f.ph === "open" && closable()) return close();
          if (c !== '"' || !left) return null;
          return props ? replaceTop(s, { ...f, ph: "key", kbuf: "", ws: 0 }) : [...replaceTop(s, { ...f, ph: "fkey", ws: 0 }), { t: "str", ph: "s", h: 0 }];
        case "key": {
          // a quote ends the name unless a backslash escapes it (names are matched as JSON.stringify writes them)
          if (c === '"' && /(^|[^\\])(\\\\)*$/.test(f.kbuf)) {
            const i = props!.findIndex((p, j) => f.seen[j] === "0" && p.enc === f.kbuf);
            if (i < 0) return null;
            return replaceTop(s, { ...f, ph: "colon", seen: f.seen.slice(0, i) + "1" + f.seen.slice(i + 1), kbuf: "", cur: i, ws: 0 });
          }
          const kbuf = f.kbuf + c;
          return props!.some((p, j) => f.seen[j] === "0" && p.enc.startsWith(kbuf)) ? replaceTop(s, { ...f, kbuf }) : null;
        }
        case "colon":
          if (WS.includes(c)) return ws(s, f);
          return c === ":" ? replaceTop(s, { ...f, ph: "pre", ws: 0 }) : null;
        case "pre":
          if (WS.includes(c)) return ws(s, f);
          return start(replaceTop(s, { ...f, ph: "val", ws: 0 }), props ? props[f.cur]!.node : ANY, c);
        case "after":
          if (WS.includes(c)) return ws(s, f);
          if (c === "," && left) return replaceTop(s, { ...f, ph: "next", ws: 0 });
          return c === "}" && closable() ? close() : null;
        default:
          return null; // fkey / val: a frame above reads
      }
    }
    case "arr": {
      const a = f.node;
      switch (f.ph) {
        case "open":
        case "pre":
          if (WS.includes(c)) return ws(s, f);
          if (c === "]" && f.ph === "open" && a.min === 0) return complete(s);
          return f.n < a.max ? start(replaceTop(s, { ...f, ph: "val", ws: 0 }), a.items, c) : null;
        case "after":
          if (WS.includes(c)) return ws(s, f);
          if (c === "," && f.n < a.max) return replaceTop(s, { ...f, ph: "pre", ws: 0 });
          return c === "]" && f.n >= a.min ? complete(s) : null;
        default:
          return null;
      }
    }
    case "str":
      if (f.ph === "s") {
        if (c === '"') return complete(s);
        if (c === "\\") return replaceTop(s, { ...f, ph: "e" });
        return c < " " ? null : s; // control characters must be escaped
      }
      if (f.ph === "e") {
        if (c === "u") return replaceTop(s, { ...f, ph: "h", h: 4 });
        return '"\\/bfnrt'.includes(c) ? replaceTop(s, { ...f, ph: "s" }) : null;
      }
      if (!/[0-9a-fA-F]/.test(c)) return null;
      return replaceTop(s, f.h > 1 ? { ...f, h: f.h - 1 } : { ...f, ph: "s", h: 0 });
    case "lit":
      if (c !== f.rest[0]) return null;
      return f.rest.length > 1 ? replaceTop(s, { ...f, rest: f.rest.slice(1) }) : complete(s);
    case "num": {
      const d = c >= "0" && c <= "9";
      const n = f.sub;
      const to = (sub: string) => replaceTop(s, { ...f, sub });
      if (n === "-") return c === "0" ? to("0") : d ? to("i") : null;
      if (n === "i" && d) return s;
      if (!f.int) {
        if ((n === "0" || n === "i") && c === ".") return to(".");
        if ((n === "." || n === "f") && d) return to("f");
        if ((n === "0" || n === "i" || n === "f") && (c === "e" || c === "E")) return to("e");
        if (n === "e" && (c === "+" || c === "-")) return to("s");
        if ((n === "e" || n === "s" || n === "x") && d) return to("x");
      }
      // anything else ends the number (when it may end) and is read after it
      return NUM_END.has(n) ? step(complete(s), c) : null;
    }
    case "enum": {
      const typed = f.typed + c;
      if (f.node.texts.some((t) => t.startsWith(typed))) {
        const next = replaceTop(s, { ...f, typed });
        return enumDone(f.node, typed) ? complete(next) : next;
      }
      return f.node.texts.includes(f.typed) ? step(complete(s), c) : null;
    }
  }
}

/** the document may end here: the root value is complete, or is a number / enum value that may end */
export function canEnd(s: State): boolean {
  const f = s[s.length - 1]!;
  if (f.t === "root") return f.ph === "done";
  if (s.length !== 2) return false;
  return (f.t === "num" && NUM_END.has(f.sub)) || (f.t === "enum" && f.node.texts.includes(f.typed));
}

export function run(s: State, text: string): State | null {
  let cur: State | null = s;
  for (let i = 0; i < text.length && cur; i++) cur = step(cur, text[i]!);
  return cur;
}

/** "complete": a whole document of the schema; "prefix": can still become one; null: cannot (tests) */
export function matchSchema(schema: CompiledSchema, text: string): "complete" | "prefix" | null {
  const s = run(initialState(schema), text);
  return s === null ? null : canEnd(s) ? "complete" : "prefix";
}

// ---- over a vocabulary -------------------------------------------------------------------

/** what the constraint needs from the vocabulary: each id's text (null: never allowed) */
export interface ConstraintVocab {
  /** text of each token as it appears in the output; byte tokens as their byte ("\u0080".."\u00ff" for non-ASCII) */
  texts: (string | null)[];
  eosIds: ReadonlySet<number>;
}

/** GPT-2's byte-level alphabet, inverted: the character a byte-level BPE piece uses -> that byte */
const BYTE_OF = (() => {
  const m = new Map<string, number>();
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) m.set(String.fromCharCode(printable(b) ? b : 256 + n++), b);
  return m;
})();
const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** stands for text that is only part of a character: allowed inside strings only */
const PARTIAL = "\u0080";

/**
 * A vocabulary piece's text in the output (after other text): byte-level BPE pieces through
 * GPT-2's byte alphabet, SentencePiece's "▁" as a space, byte-fallback "<0xXX>" as that byte;
 * a piece that is only part of a UTF-8 character becomes PARTIAL.
 */
export function pieceOutputText(piece: string, byteLevel: boolean): string {
  const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  if (byte) {
    const b = parseInt(byte[1]!, 16);
    return b < 0x80 ? String.fromCharCode(b) : PARTIAL;
  }
  if (!byteLevel) return piece.replace(/▁/g, " ");
  const bytes: number[] = [];
  for (const ch of piece) {
    const b = BYTE_OF.get(ch);
    if (b === undefined) return piece; // not of the alphabet (an added token): as written
    bytes.push(b);
  }
  try {
    return UTF8.decode(Uint8Array.from(bytes));
  } catch {
    return PARTIAL;
  }
}

interface Trie {
  next: Map<string, Trie>;
  /** ids whose text ends here */
  ids: number[];
}

const TRIES = new WeakMap<ConstraintVocab, Trie>();
const MAX_CACHED = 4096;

function trieOf(vocab: ConstraintVocab): Trie {
  let t = TRIES.get(vocab);
  if (!t) {
    t = { next: new Map(), ids: [] };
    vocab.texts.forEach((text, id) => {
      if (!text || vocab.eosIds.has(id)) return;
      let n = t!;
      for (const c of text) {
        let m = n.next.get(c);
        if (!m) n.next.set(c, (m = { next: new Map(), ids: [] }));
        n = m;
      }
      n.ids.push(id);
    });
    TRIES.set(vocab, t);
  }
  return t;
}

/** 1 where a token may come next in state `s`: (vocab) */
function computeMask(vocab: ConstraintVocab, s: State): Uint8Array {
  const m = new Uint8Array(vocab.texts.length);
  if (canEnd(s)) for (const id of vocab.eosIds) if (id < m.length) m[id] = 1;
  const walk = (t: Trie, st: State) => {
    for (const [c, child] of t.next) {
      const n = step(st, c);
      if (!n) continue;
      for (const id of child.ids) m[id] = 1;
      walk(child, n);
    }
  };
  walk(trieOf(vocab), s);
  return m;
}

/** One request's constraint: `mask()` before sampling, `accept(id)` after. */
export class JsonConstraint {
  private state: State;

  constructor(private readonly vocab: ConstraintVocab, private readonly schema: CompiledSchema = ANY_OBJECT) {
    this.state = initialState(schema);
  }

  get done(): boolean {
    return canEnd(this.state);
  }

  /** 1 where the token may come next: (vocab), shared by every request in the same state */
  mask(): Uint8Array {
    let cache = this.schema.masks.get(this.vocab);
    if (!cache) this.schema.masks.set(this.vocab, (cache = new Map()));
    const k = stateKey(this.state);
    let m = cache.get(k);
    if (!m) {
      m = computeMask(this.vocab, this.state);
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
}

/** every character of `text` accepted, and one JSON object closed (tests) */
export function isCompleteJsonObject(text: string): boolean {
  return matchSchema(ANY_OBJECT, text) === "complete";
}
