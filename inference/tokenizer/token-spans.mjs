/**
 * Each token's text as a streaming detokenizer emits it (TGI's prefix/read offsets): what the
 * token adds to the decode of the few tokens before it; a byte piece of an incomplete UTF-8
 * character adds "" and the character appears with its last byte. O(n) decodes of short windows.
 * Special tokens are not part of the text: an empty span, their literal string as text.
 * Plain JavaScript so the tokenizer thread (encode-worker.mjs) and the main thread share it.
 *
 * @param {number[]} ids
 * @param {(ids: number[], skipSpecial: boolean) => string} decode
 * @param {(id: number) => boolean} isSpecial
 */
export function tokenSpans(ids, decode, isSpecial) {
  const out = [];
  let offset = 0;
  let prefixOffset = 0;
  let readOffset = 0;
  for (let i = 0; i < ids.length; i++) {
    if (isSpecial(ids[i])) {
      out.push({ id: ids[i], text: decode([ids[i]], false), start: offset, stop: offset, special: true });
      continue;
    }
    const before = decode(ids.slice(prefixOffset, readOffset), true);
    const after = decode(ids.slice(prefixOffset, i + 1), true);
    let piece = "";
    if (after.length > before.length && !after.endsWith("\uFFFD") && after.startsWith(before)) {
      piece = after.slice(before.length);
      prefixOffset = readOffset;
      readOffset = i + 1;
    } else if (i === ids.length - 1) {
      piece = after.slice(before.length); // an incomplete character at the very end
    }
    out.push({ id: ids[i], text: piece, start: offset, stop: offset + piece.length, special: false });
    offset += piece.length;
  }
  return out;
}
