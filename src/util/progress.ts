/** A progress line on stderr for long runs: done/total, rate and ETA; redrawn in place on a TTY. */
export class Progress {
  private start = performance.now();
  private last = 0;
  constructor(private what: string, private total: number, private unit: string) {}

  tick(done: number): void {
    const now = performance.now();
    if (now - this.last < 500 && done < this.total) return;
    this.last = now;
    const s = (now - this.start) / 1000;
    const rate = done / Math.max(s, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const line = `${this.what}: ${done}/${this.total} ${this.unit} · ${rate.toFixed(2)} ${this.unit}/s · ETA ${fmt(eta)}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
    else if (done === this.total || now - this.start > 0) process.stderr.write(`${line}\n`);
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

function fmt(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
