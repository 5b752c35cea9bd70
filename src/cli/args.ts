/**
 * A small, strict argument parser: `--name value`, `--name=value`, `--flag`, positionals. Unknown options are
 * errors; numbers are parsed strictly (`--steps 0x8`, `--steps 8abc`, `--steps ''` are refused). One table per
 * command carries each option's name, type, default and allowed values: `parseArgs` applies the defaults and checks
 * the values, `--help` prints them, and the experiment file's schema and checks (src/cli/experiment-file.ts) read
 * the same table — so no default or allowed value is written twice.
 */
import { UserError } from '../util/errors.ts';

export type OptionKind = 'string' | 'boolean' | 'number' | 'int';

/** One option of a command. */
export interface Opt {
  kind: OptionKind;
  /** what the value is, in the help: `--out DIR` */
  arg?: string;
  help?: string;
  /** the value an absent option takes (parseArgs applies it; --help and the experiment schema show it) */
  default?: string | number | boolean;
  /** a default the command derives from its inputs (the model's length, another option): shown, never applied */
  derived?: string;
  /** strings: the accepted values */
  choices?: readonly string[];
  /** strings: a comma-separated list of `choices` (`--units ffn-pre,heads`), each item checked */
  list?: boolean;
  required?: boolean;
  /** numbers: the smallest accepted value */
  min?: number;
  /** numbers: values must be > min rather than >= min */
  exclusiveMin?: boolean;
  /** numbers: values must be < max */
  exclusiveMax?: number;
  /** numbers: what a valid value is, for the out-of-range error (`a relative error in (0, 1), e.g. 1e-3`) */
  range?: string;
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
  /** every option given, and every absent one that has a `default` */
  opts: Record<string, string | number | boolean | undefined>;
  /** the options given on the command line (not filled in from defaults) */
  given: Set<string>;
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

export const opt = (o: OptionKind | Opt): Opt => (typeof o === 'string' ? { kind: o } : o);

/** Parses `value` as option `name` of kind `o` (strictly: decimal digits only, no hex, no trailing junk). */
export function parseValue(name: string, value: string, o: Opt, label = `option --${name}`): string | number {
  if (o.kind === 'string') return checkChoice(value, o, label);
  const isInt = o.kind === 'int';
  if (!(isInt ? INT : DECIMAL).test(value.trim()) || value.trim() !== value) {
    throw new UserError(`${label} expects ${isInt ? 'an integer' : 'a number'}, got '${value}'${o.arg ? ` (e.g. ${label.startsWith('option') ? `--${name} ` : ''}${o.default ?? (isInt ? '8' : '1.5')})` : ''}`);
  }
  return checkNumber(name, Number(value), o, label, value);
}

/** Checks a number against option `o` (integer, range); `label` names it in the error (`option --steps`, `experiment.json: attribute.steps`). */
export function checkNumber(name: string, n: number, o: Opt, label = `option --${name}`, shown: string = String(n)): number {
  const isInt = o.kind === 'int';
  if (!Number.isFinite(n) || (isInt && !Number.isSafeInteger(n))) throw new UserError(`${label}: '${shown}' is out of range`);
  if (isInt && !Number.isInteger(n)) throw new UserError(`${label} expects an integer, got ${shown}`);
  const outside = (o.min !== undefined && (o.exclusiveMin ? !(n > o.min) : !(n >= o.min))) || (o.exclusiveMax !== undefined && !(n < o.exclusiveMax));
  if (outside && o.range) throw new UserError(`${label} takes ${o.range}; got ${shown}`);
  if (o.min !== undefined && (o.exclusiveMin ? !(n > o.min) : !(n >= o.min))) {
    throw new UserError(`${label} must be ${isInt ? 'an integer' : 'a number'} ${o.exclusiveMin ? '>' : '>='} ${o.min}, got ${shown}`);
  }
  if (o.exclusiveMax !== undefined && !(n < o.exclusiveMax)) throw new UserError(`${label} must be < ${o.exclusiveMax}, got ${shown}`);
  return n;
}

function checkChoice(v: string, o: Opt, label: string): string {
  if (o.choices && o.list) {
    const bad = v.split(',').find((x) => !o.choices!.includes(x));
    if (bad !== undefined) throw new UserError(`${label} '${v}': '${bad}' is not one of: ${o.choices.join(', ')} (a comma-separated list)`);
  } else if (o.choices && !o.choices.includes(v)) throw new UserError(`${label} '${v}' is not one of: ${o.choices.join(', ')}`);
  return v;
}

export function parseArgs(cmd: string, argv: string[], spec: OptionSpec | CommandSpec): Parsed {
  const command = isCommand(spec) ? spec : undefined;
  const options = command ? command.options : (spec as OptionSpec);
  if (command && argv.some((a) => a === '--help' || a === '-h')) throw new HelpRequested(helpText(command));
  const opts: Parsed['opts'] = {};
  const given = new Set<string>();
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
      given.add(name);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UserError(`option --${name} needs a value${o.arg ? ` (--${name} ${o.arg})` : ''}`);
    }
    opts[name] = parseValue(name, value, o);
    given.add(name);
  }
  if (command) {
    for (const [name, o] of Object.entries(options)) {
      if (opt(o).required && (opts[name] === undefined || opts[name] === '')) throw new UserError(`--${name} is required (${opt(o).arg ? `--${name} ${opt(o).arg}` : `--${name}`}); see ir-neurons ${cmd} --help`);
    }
  }
  applyDefaults(options, opts);
  return { opts, given, positionals };
}

/** Fills in the `default` of every absent option of `options`. */
export function applyDefaults(options: OptionSpec, opts: Record<string, unknown>): void {
  for (const [name, o] of Object.entries(options)) {
    const d = opt(o).default;
    if (opts[name] === undefined && d !== undefined) opts[name] = d;
  }
}

function isCommand(s: OptionSpec | CommandSpec): s is CommandSpec {
  return typeof (s as CommandSpec).options === 'object' && typeof (s as CommandSpec).usage === 'string';
}

/** The `--help` text of a command, from its table. */
export function helpText(c: CommandSpec): string {
  const rows = Object.entries(c.options).map(([name, o0]) => {
    const o = opt(o0);
    const head = `${o.short ? `${o.short}, ` : ''}--${name}${o.kind === 'boolean' ? '' : ` ${o.arg ?? (o.kind === 'string' ? 'VALUE' : 'N')}`}`;
    const shown = o.default !== undefined ? String(o.default) : o.derived;
    const tail = [o.help ?? '', o.choices && !o.help?.includes(o.choices[0]) ? `(one of: ${o.choices.join(', ')})` : '', o.required ? '(required)' : '', shown !== undefined ? `(default: ${shown})` : ''].filter(Boolean).join(' ');
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
