/** A small, strict argument parser: `--name value`, `--flag`, positionals. Unknown options are errors. */
import { UserError } from '../util/errors.ts';

export interface OptionSpec {
  [name: string]: 'string' | 'boolean' | 'number';
}

export interface Parsed {
  opts: Record<string, string | number | boolean | undefined>;
  positionals: string[];
}

export function parseArgs(cmd: string, argv: string[], spec: OptionSpec): Parsed {
  const opts: Parsed['opts'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positionals.push(a); continue; }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    const kind = spec[name];
    if (!kind) {
      const known = Object.keys(spec).map((k) => `--${k}`).join(', ');
      throw new UserError(`unknown option --${name} (known: ${known})`);
    }
    if (kind === 'boolean') { opts[name] = value === undefined ? true : value !== 'false'; continue; }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UserError(`option --${name} needs a value`);
    }
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UserError(`option --${name} expects a number, got '${value}'`);
      opts[name] = n;
    } else opts[name] = value;
  }
  return { opts, positionals };
}

export function required(cmd: string, p: Parsed, name: string): string {
  const v = p.opts[name];
  if (typeof v !== 'string' || v === '') throw new UserError(`--${name} is required`);
  return v;
}
