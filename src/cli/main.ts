/**
 * `ir-neurons <command>`: dispatches to one module per command (src/cli/<command>.ts, each exporting
 * `run(argv): Promise<number>`). UserErrors print one line and exit 2; anything else prints one line
 * and exits 1; `--debug` prints stacks; `--help` after a command prints that command's options (from its table).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { setWriteAdvice, writeFailure } from '../util/write-error.ts';
import { HelpRequested } from './args.ts';

const COMMANDS: Record<string, { about: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  doctor: { about: 'print the WebGPU adapter, its features and limits', load: () => import('./doctor.ts') },
  score: { about: 'score query-passage pairs (optionally with pruned FFN neurons)', load: () => import('./score.ts') },
  attribute: { about: 'NIG of every FFN neuron (and IG on the embeddings) for query-passage pairs', load: () => import('./attribute.ts') },
  merge: { about: 'combine the outputs of sharded dataset runs (exactly)', load: () => import('./merge.ts') },
  prune: { about: 'prune top neurons of attribution schemes and re-rank, against random pruning', load: () => import('./prune.ts') },
  report: { about: 'HTML/JSON/Markdown report of a dataset run (and its pruning table)', load: () => import('./report.ts') },
  compare: { about: 'compare two runs of one experiment: tensors, rankings, overlaps, pruning (exit 1 beyond --tol)', load: () => import('./compare.ts') },
  evaluate: { about: 'evaluate a TREC run against qrels (trec_eval conventions)', load: () => import('./evaluate.ts') },
  experiment: { about: 'run an experiment file: download, attribute, prune, report (each step skipped when done)', load: () => import('./experiment.ts') },
  demo: { about: 'run the main job on the bundled tiny model and toy pairs (experiments/demo.json)', load: () => import('./demo.ts') },
  download: { about: 'fetch a cross-encoder from the Hugging Face hub (resumable, hash-checked)', load: () => import('./download.ts') },
};

/** The package's version, from its package.json (two folders up from src/cli/ and from dist/lib/ alike). */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '(unknown version)';
  }
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.about}`);
  return `usage: ir-neurons <command> [options] [--debug]    (ir-neurons --version)\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const name = args[0];
  if (name === '--version' || name === '-V') {
    process.stdout.write(`ir-neurons ${version()}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`ir-neurons: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  setWriteAdvice();
  running = name;
  if (!process.stdout.listeners('error').includes(stdoutFailed)) process.stdout.on('error', stdoutFailed);
  try {
    const mod = await cmd.load();
    return await mod.run(args.slice(1));
  } catch (e) {
    if (e instanceof HelpRequested) { process.stdout.write(e.text); return 0; }
    const err = e as Error;
    if (debug) process.stderr.write(`${err.stack ?? err}\n`);
    else if (e instanceof UserError) process.stderr.write(`ir-neurons ${name}: ${oneLine(err.message)}\n`);
    else process.stderr.write(`ir-neurons ${name}: internal error: ${oneLine(err.message)} (run with --debug for the stack)\n`);
    return e instanceof UserError ? 2 : 1;
  }
}

let running = '';

/** Output the shell sent to a full disk (`evaluate ... > FILE`): one line and exit 2, not an unhandled 'error' event. */
function stdoutFailed(e: Error): void {
  const w = writeFailure(e, 'standard output');
  process.stderr.write(`ir-neurons ${running}: ${w instanceof UserError ? oneLine(w.message) : `internal error: ${oneLine(e.message)}`}\n`);
  process.exit(w instanceof UserError ? 2 : 1);
}

/** Error messages print on one line, whatever they hold. */
function oneLine(s: string): string {
  return String(s).replace(/\s*\n\s*/g, ' ');
}
