/**
 * `ir-neurons evaluate --qrels FILE --run FILE [--measures a,b,...] [-q] [-l LEVEL] [-c]`: trec_eval on the
 * measures of src/analysis/metrics.ts, printed in trec_eval's layout (`%-22s\t%s\t%6.4f`): per-query lines
 * first (-q), then `runid`, `num_q` and the `all` lines. The short options are trec_eval's: -q per query,
 * -l minimum relevant grade (also `-l2`), -c average over every qrels query; their trec_eval long names work too.
 */
import { evaluate, formatTrecEval, MEASURE_HELP } from '../analysis/metrics.ts';
import { readQrels, readRunWithTag } from '../data/trec.ts';
import { UserError } from '../util/errors.ts';
import { HelpRequested, helpText, parseArgs, required, type CommandSpec } from './args.ts';

const CMD = 'evaluate';
const DEFAULT_MEASURES = 'ndcg_cut_10,recip_rank_10,recall_100';

export const command: CommandSpec = {
  name: CMD,
  usage: '--qrels FILE --run FILE [--measures LIST] [-q] [-l LEVEL] [-c]',
  summary: "trec_eval on the measures below, printed in trec_eval's layout; the short options are trec_eval's.",
  options: {
    qrels: { kind: 'string', arg: 'FILE', required: true, help: 'TREC qrels: qid iter docid grade (- for standard input)' },
    run: { kind: 'string', arg: 'FILE', required: true, help: 'TREC run: qid Q0 docid rank score tag (ranked by score, ties by docid descending; - for standard input)' },
    measures: { kind: 'string', arg: 'LIST', default: DEFAULT_MEASURES, help: `comma-separated; known: ${MEASURE_HELP}` },
    query_eval_wanted: { kind: 'boolean', short: '-q', help: "also print each query's values" },
    level_for_rel: { kind: 'int', arg: 'LEVEL', short: '-l', min: 0, default: 1, help: 'minimum grade counted as relevant; TREC DL uses 2' },
    complete_rel_info_wanted: { kind: 'boolean', short: '-c', help: 'average over all qrels queries, missing ones scoring 0' },
  },
  examples: ['ir-neurons evaluate --qrels qrels.txt --run run.txt -l 2 --measures ndcg_cut_10,recip_rank_10'],
};

const VALUED = new Set(['--qrels', '--run', '--measures', '--level_for_rel']);

/** Rewrites trec_eval's short options into the long ones parseArgs knows. */
function longOptions(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (VALUED.has(a)) {
      out.push(a);
      if (i + 1 < argv.length) out.push(argv[++i]); // a value, even one starting with '-'
    } else if (a === '-q') out.push('--query_eval_wanted');
    else if (a === '-c') out.push('--complete_rel_info_wanted');
    else if (a === '-l') {
      if (i + 1 >= argv.length) throw new UserError(`option -l needs a value (the minimum relevant grade, e.g. -l 2)`);
      out.push('--level_for_rel', argv[++i]);
    } else if (/^-l.+/.test(a)) out.push('--level_for_rel', a.slice(2));
    else if (/^-[^-]/.test(a)) throw new UserError(`unknown option ${a} (short options: -q, -l LEVEL, -c); see ir-neurons evaluate --help`);
    else out.push(a);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(helpText(command));
  const p = parseArgs(CMD, longOptions(argv), command);
  if (p.positionals.length) {
    throw new UserError(`unexpected argument '${p.positionals[0]}'; give files as --qrels FILE --run FILE`);
  }
  const qrelsPath = required(CMD, p, 'qrels');
  const runPath = required(CMD, p, 'run');
  if (qrelsPath === '-' && runPath === '-') throw new UserError('--qrels and --run cannot both be - (standard input): give one of them as a file');
  const level = p.opts.level_for_rel as number;
  if (!Number.isInteger(level) || level < 0) throw new UserError(`-l expects an integer grade >= 0, got ${level}`);
  const names = String(p.opts.measures).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UserError(`--measures is empty; known: ${MEASURE_HELP}`);

  const qrels = readQrels(qrelsPath);
  const { run: ranking, tag } = readRunWithTag(runPath);
  if (qrels.size === 0) throw new UserError(`${qrelsPath}: no judgement lines found; give a TREC qrels file (qid iter docid grade)`);
  if (ranking.size === 0) throw new UserError(`${runPath}: no result lines found; give a TREC run file (qid Q0 docid rank score tag)`);
  const ev = evaluate(qrels, ranking, names, {
    relevanceLevel: level,
    complete: p.opts.complete_rel_info_wanted === true,
  });
  if (ev.numQ === 0) {
    throw new UserError(`no query of ${runPath} (${ranking.size} queries) is in ${qrelsPath} (${qrels.size} queries); check that both use the same query ids`);
  }
  process.stdout.write(formatTrecEval(ev, { perQuery: p.opts.query_eval_wanted === true, runid: tag }));
  return 0;
}
