/**
 * The thin file writer of the report: report.html, report.json and report.md in one folder. The only module
 * of src/report that touches the file system.
 */
import path from 'node:path';
import { makeDir, writeFileAtomic } from '../util/atomic.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { buildReport, type ReportInput, type ReportJson } from './report.ts';

/** Builds the report and writes the three files into `dir` (created if needed); returns their paths. */
export function writeReport(dir: string, input: ReportInput): { report: ReportJson; files: string[] } {
  const report = buildReport(input);
  const files: [string, string][] = [
    ['report.html', renderHtml(report)],
    ['report.json', `${JSON.stringify(report, null, 2)}\n`],
    ['report.md', renderMarkdown(report)],
  ];
  makeDir(dir);
  for (const [name, text] of files) writeFileAtomic(path.join(dir, name), text);
  return { report, files: files.map(([name]) => path.join(dir, name)) };
}
