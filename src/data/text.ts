/**
 * Text files as strict UTF-8: a leading byte-order mark is dropped, and bytes that are not UTF-8 are refused
 * with a one-line error naming the file, the line and the byte (never decoded to U+FFFD in silence).
 */
import { UserError } from '../util/errors.ts';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes `buf` as UTF-8 without a BOM; `file` names it in errors. */
export function decodeUtf8(buf: Uint8Array, file: string): string {
  let text: string;
  try {
    text = strict.decode(buf);
  } catch {
    const at = firstInvalidUtf8(buf);
    let line = 1;
    for (let i = 0; i < at; i++) if (buf[i] === 0x0a) line++;
    throw new UserError(`${file}:${line}: not UTF-8 (byte 0x${buf[at].toString(16).padStart(2, '0')} at offset ${at}); re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)`);
  }
  return stripBom(text);
}

/** `text` without a leading U+FEFF (a byte-order mark some editors write). */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The offset of the first byte that does not start or continue a well-formed UTF-8 sequence (buf.length if none). */
export function firstInvalidUtf8(buf: Uint8Array): number {
  for (let i = 0; i < buf.length;) {
    const b = buf[i];
    let n: number, min: number;
    if (b < 0x80) { i++; continue; }
    else if (b >= 0xc2 && b <= 0xdf) { n = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { n = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return buf.length;
}
