/**
 * Two small text formats of the SciFact CSV export:
 * - RFC 4180 CSV (comma-separated, `"`-quoted fields with `""` for a quote, newlines allowed inside quotes, LF or
 *   CRLF records), as pandas `to_csv` writes it. A `"` inside an unquoted field is kept as text (Python's csv
 *   module does the same); a quoted field followed by anything but a comma or the end of the record is an error.
 * - the repr of a 1-D numpy array of strings (`['first sentence.'\n 'second ...']`): Python string literals in
 *   single or double quotes (double when the string holds a `'`), separated by blanks or newlines, with Python's
 *   escapes (`\\ \' \" \n \t \r \xHH \uHHHH \UHHHHHHHH`, octal); unknown escapes keep their backslash, as in Python.
 */
import { UserError } from '../util/errors.ts';

export interface CsvRow {
  /** line where the record starts (1-based) */
  line: number;
  fields: string[];
}

const UNQUOTED = /[^,\r\n]*/y;

/** Parses CSV text into records. */
export function parseCsv(text: string, file: string): CsvRow[] {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let i = 0;
  const n = text.length;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ line: start, fields });
    fields = [];
    field = '';
  };
  while (i < n) {
    const c = text[i];
    if (c === '"' && field === '') {
      const open = line;
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new UserError(`${file}:${open}: a quoted field opened on this line is never closed; close the quote (write "" for a quote inside the field)`);
        const chunk = text.slice(i, q);
        for (let k = chunk.indexOf('\n'); k >= 0; k = chunk.indexOf('\n', k + 1)) line++;
        field += chunk;
        if (text[q + 1] === '"') { field += '"'; i = q + 2; continue; }
        i = q + 1;
        break;
      }
      const e = text[i];
      if (i < n && e !== ',' && e !== '\n' && !(e === '\r' && text[i + 1] === '\n')) {
        throw new UserError(`${file}:${line}: text ${JSON.stringify(text.slice(i, i + 20))} follows a closing quote; a quoted field must end at a comma or the end of the record (write "" for a quote inside it)`);
      }
      continue;
    }
    if (c === ',') { fields.push(field); field = ''; i++; continue; }
    if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      endRecord();
      i += c === '\r' ? 2 : 1;
      line++;
      start = line;
      continue;
    }
    UNQUOTED.lastIndex = i; // the rest of an unquoted field, up to a comma or a line end
    const m = UNQUOTED.exec(text)!;
    field += m[0] || c;
    i += m[0].length || 1;
  }
  if (field !== '' || fields.length > 0) endRecord();
  return rows;
}

/** Records as objects keyed by the header row; checks the columns and the field count of every record. */
export function csvTable(rows: readonly CsvRow[], file: string, required: readonly string[]): { line: number; get: (col: string) => string }[] {
  if (rows.length === 0) throw new UserError(`${file}: empty CSV file; expected a header with ${required.join(', ')}`);
  const header = rows[0].fields.map((h) => h.trim());
  const col = new Map(header.map((h, k) => [h, k]));
  const missing = required.filter((r) => !col.has(r));
  if (missing.length) throw new UserError(`${file}:${rows[0].line}: the header lacks column(s) ${missing.join(', ')} (found ${header.join(', ')}); use the expected CSV export`);
  return rows.slice(1).map((r) => {
    if (r.fields.length !== header.length) {
      throw new UserError(`${file}:${r.line}: record has ${r.fields.length} fields, the header ${header.length}; fix the quoting of this record`);
    }
    return { line: r.line, get: (c: string) => r.fields[col.get(c)!] };
  });
}

const SIMPLE_ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };

/** Parses the repr of a numpy array of strings into its strings; `where` prefixes error messages. */
export function parseNumpyStrArray(s: string, where: string): string[] {
  const fail = (what: string, at: number): never => {
    throw new UserError(`${where}: not a numpy string-array repr: ${what} at character ${at + 1} (${JSON.stringify(s.slice(at, at + 30))}); expected ['...' '...']`);
  };
  const out: string[] = [];
  let i = 0;
  const ws = () => { while (i < s.length && /\s/.test(s[i])) i++; };
  ws();
  if (s[i] !== '[') fail("no opening '['", i);
  i++;
  for (;;) {
    ws();
    if (i >= s.length) fail("no closing ']'", i);
    if (s[i] === ']') { i++; break; }
    const q = s[i];
    if (q !== "'" && q !== '"') fail('expected a quoted string', i);
    let str = '';
    for (i++; ; ) {
      if (i >= s.length) fail('unterminated string', i);
      const c = s[i];
      if (c === q) { i++; break; }
      if (c !== '\\') { str += c; i++; continue; }
      const e = s[i + 1];
      if (e === undefined) fail('backslash at the end', i);
      if (e in SIMPLE_ESCAPES) { str += SIMPLE_ESCAPES[e]; i += 2; continue; }
      const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (hex) {
        const h = s.slice(i + 2, i + 2 + hex);
        if (h.length !== hex || !/^[0-9a-fA-F]+$/.test(h)) fail(`bad \\${e} escape`, i);
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff) fail(`code point ${h} out of range`, i);
        str += String.fromCodePoint(cp);
        i += 2 + hex;
        continue;
      }
      const oct = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4));
      if (oct) { str += String.fromCharCode(parseInt(oct[0], 8)); i += 1 + oct[0].length; continue; }
      str += `\\${e}`; // Python keeps unknown escapes as written
      i += 2;
    }
    out.push(str);
    if (i < s.length && !/\s/.test(s[i]) && s[i] !== ']') fail('strings must be separated by blanks', i);
  }
  ws();
  if (i < s.length) fail("text after the closing ']'", i);
  return out;
}
