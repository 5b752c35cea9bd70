/**
 * A small, strict argument parser: `--name value`, `--name=value`, `--flag`, positionals. Unknown options are
 * errors; numbers are parsed strictly (`--steps 0x8`, `--steps 8abc`, `--steps ''` are refused). One table per
 * command both parses its options and prints its `--help` (options, defaults, an example), so the two cannot drift.
 */
import { UserError } from '../util/errors.ts';

export type OptionKind = 'string' | 'boolean' | 'number' | 'int';

/** One option of a command. */
export interface Opt {
  kind: OptionKind;
  /** what the value is, in the help: `--out DIR` */
  arg?: string;
  help?: string;
  /** the default, as the help shows it (the command applies it) */
  default?: string;
  required?: boolean;
  /** numbers: the smallest accepted value */
  min?: number;
  /** numbers: values must be > min rather than >= min */
  exclusiveMin?: boolean;
  /** a trec_eval-style short form (evaluate's -q, -c, -l) */
  short?: string;
}

export interface OptionSpec {
  [name: string]: OptionKind | Opt;
}

/** A command's table: what `--help` prints and what `parseArgs` accepts. */
export interface CommandSpec {
  name: string;
  /** the synopsis after `ir-neurons NAME` (positionals, mode choices) */
  usage: string;
  summary: string;
  options: OptionSpec;
  examples: string[];
  notes?: string[];
}

export interface Parsed {
  opts: Record<string, string | number | boolean | undefined>;
  positionals: string[];
}

/** Thrown when `--help` (or `-h`) is given: the CLI prints `text` on stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

const INT = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const opt = (o: OptionKind | Opt): Opt => (typeof o === 'string' ? { kind: o } : o);

/** Parses `value` as option `name` of kind `o` (strictly: decimal digits only, no hex, no trailing junk). */
export function parseValue(name: string, value: string, o: Opt): string | number {
  if (o.kind === 'string') return value;
  const isInt = o.kind === 'int';
  if (!(isInt ? INT : DECIMAL).test(value.trim()) || value.trim() !== value) {
    throw new UserError(`option --${name} expects ${isInt ? 'an integer' : 'a number'}, got '${value}'${o.arg ? ` (e.g. --${name} ${o.default ?? (isInt ? '8' : '1.5')})` : ''}`);
  }
  const n = Number(value);
  if (!Number.isFinite(n) || (isInt && !Number.isSafeInteger(n))) throw new UserError(`option --${name}: '${value}' is out of range`);
  if (o.min !== undefined && (o.exclusiveMin ? !(n > o.min) : !(n >= o.min))) {
    throw new UserError(`option --${name} must be ${isInt ? 'an integer' : 'a number'} ${o.exclusiveMin ? '>' : '>='} ${o.min}, got ${value}`);
  }
  return n;
}

export function parseArgs(cmd: string, argv: string[], spec: OptionSpec | CommandSpec): Parsed {
  const command = isCommand(spec) ? spec : undefined;
  const options = command ? command.options : (spec as OptionSpec);
  if (command && argv.some((a) => a === '--help' || a === '-h')) throw new HelpRequested(helpText(command));
  const opts: Parsed['opts'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positionals.push(a); continue; }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    const kind = Object.hasOwn(options, name) ? options[name] : undefined;
    if (!kind) {
      const known = Object.keys(options).map((k) => `--${k}`).join(', ');
      throw new UserError(`unknown option --${name} (known: ${known}${command ? `; see ir-neurons ${cmd} --help` : ''})`);
    }
    const o = opt(kind);
    if (o.kind === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UserError(`option --${name} is a flag; give --${name} (or --${name}=false), not --${name}=${value}`);
      opts[name] = value === undefined ? true : value === 'true';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UserError(`option --${name} needs a value${o.arg ? ` (--${name} ${o.arg})` : ''}`);
    }
    opts[name] = parseValue(name, value, o);
  }
  if (command) {
    for (const [name, o] of Object.entries(options)) {
      if (opt(o).required && (opts[name] === undefined || opts[name] === '')) throw new UserError(`--${name} is required (${opt(o).arg ? `--${name} ${opt(o).arg}` : `--${name}`}); see ir-neurons ${cmd} --help`);
    }
  }
  return { opts, positionals };
}

function isCommand(s: OptionSpec | CommandSpec): s is CommandSpec {
  return typeof (s as CommandSpec).options === 'object' && typeof (s as CommandSpec).usage === 'string';
}

/** The `--help` text of a command, from its table. */
export function helpText(c: CommandSpec): string {
  const rows = Object.entries(c.options).map(([name, o0]) => {
    const o = opt(o0);
    const head = `${o.short ? `${o.short}, ` : ''}--${name}${o.kind === 'boolean' ? '' : ` ${o.arg ?? (o.kind === 'string' ? 'VALUE' : 'N')}`}`;
    const tail = [o.help ?? '', o.required ? '(required)' : '', o.default !== undefined ? `(default: ${o.default})` : ''].filter(Boolean).join(' ');
    return [head, tail] as const;
  });
  const w = Math.min(30, Math.max(0, ...rows.map(([h]) => h.length)) + 2);
  const lines = rows.map(([h, t]) => (h.length + 2 > w ? `  ${h}\n  ${''.padEnd(w)}${t}` : `  ${h.padEnd(w)}${t}`));
  return [
    `usage: ir-neurons ${c.name} ${c.usage}`.trimEnd(),
    '',
    c.summary,
    '',
    'options:',
    ...lines,
    '  --help'.padEnd(w + 2) + 'print this help',
    ...(c.notes?.length ? ['', ...c.notes] : []),
    '',
    `example${c.examples.length > 1 ? 's' : ''}:`,
    ...c.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

export function required(cmd: string, p: Parsed, name: string): string {
  const v = p.opts[name];
  if (typeof v !== 'string' || v === '') throw new UserError(`--${name} is required`);
  return v;
}
