/**
 * An exclusive lock on an output folder: `DIR/run.lock`, a JSON file with the owner's pid, host, process start
 * time and command, created atomically (written beside it, then hard-linked into place: a link fails if the lock
 * exists, and a reader never sees a half-written lock). A second run into the folder is refused with a one-line
 * error naming the owner. A stale lock — the owner was on this host and its process is gone (or its pid now
 * belongs to another process), or it was an earlier attempt of the same Slurm job (a requeue) — is taken over
 * with a note on stderr. A lock from another host cannot be checked from here: the message says to delete it if
 * that process is gone.
 */
import { existsSync, linkSync, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export const LOCK_FILE = 'run.lock';

export interface LockOwner {
  pid: number;
  host: string;
  /** the process's start time in clock ticks since boot (Linux /proc/PID/stat field 22), to detect pid reuse */
  start: string | null;
  /** SLURM_JOB_ID of the owner, when it ran under Slurm */
  slurmJob: string | null;
  since: string;
  command: string;
}

export interface Lock {
  file: string;
  owner: LockOwner;
  release(): void;
}

function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Why the lock held by `o` is stale, or null when its owner may still be running. */
export function staleReason(o: LockOwner, env: NodeJS.ProcessEnv = process.env): string | null {
  if (o.slurmJob && env.SLURM_JOB_ID === o.slurmJob) return `it was taken by an earlier attempt of this Slurm job ${o.slurmJob} (requeued)`;
  if (o.host !== hostname()) return null;
  if (o.pid === process.pid) return null;
  if (!alive(o.pid)) return `its process ${o.pid} on ${o.host} is gone`;
  const start = procStart(o.pid);
  if (o.start && start && start !== o.start) return `pid ${o.pid} on ${o.host} is now another process`;
  return null;
}

function describe(o: LockOwner): string {
  return `pid ${o.pid} on host ${o.host} since ${o.since} (${o.command})`;
}

function readOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8'));
    return typeof o?.pid === 'number' && typeof o?.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/**
 * Takes the lock on `dir` (which must exist) or throws a UserError naming the owner. `note` receives the
 * one-line message when a stale lock is taken over.
 */
export function lockDir(dir: string, command: string, note: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Lock {
  const file = join(dir, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid, host: hostname(), start: procStart(process.pid), slurmJob: process.env.SLURM_JOB_ID ?? null,
    since: new Date().toISOString(), command,
  };
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileAtomic(tmp, JSON.stringify(owner) + '\n');
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      }
      const held = readOwner(file);
      if (!held) throw new UserError(`${file}: a lock file that cannot be read is in the way; if no run is using ${dir}, delete it and start again`);
      const stale = staleReason(held);
      if (!stale) throw new UserError(`${dir} is in use by ${describe(held)}: wait for that run to finish, or choose another --out folder (if that process is gone, delete ${file})`);
      note(`note: taking over the stale lock ${file} (${stale})`);
      unlinkSync(file);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file}: cannot take the lock on the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check that ${dir} is writable`);
  } finally {
    try { unlinkSync(tmp); } catch { /* gone */ }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const now = readOwner(file);
    if (now && now.pid === owner.pid && now.host === owner.host && now.since === owner.since && existsSync(file)) unlinkSync(file);
  };
  process.on('exit', release);
  return { file, owner, release };
}
