/**
 * Fetches a Hugging Face model repository over HTTPS from the hub's public URL layout (no Python, no git):
 *   GET {endpoint}/api/models/{org/name}/revision/{rev}?blobs=true   the commit (`sha`) and every file (`siblings`:
 *       `rfilename`, `size`, `blobId` = git blob id, and for LFS files `lfs: { sha256, size }`)
 *   GET {endpoint}/{org/name}/resolve/{commit}/{file}                 the file (LFS files redirect to a CDN)
 * Only what the engine reads is fetched: config.json; model.safetensors, or model.safetensors.index.json and the
 * shards it names, or pytorch_model.bin; tokenizer.json, or vocab.txt; tokenizer_config.json when present.
 * Each file is written to `<file>.part`, resumed with a Range request when a transfer stops (within a run, and on
 * the next run), checked against the size and hash the hub lists (sha256 for LFS files, the git blob id otherwise),
 * and renamed into place only then. A write that fails (a full disk, permissions) is a one-line WriteError; the part
 * stays, for the next run to resume. A body is read no further than the size the hub lists (a server that sends more,
 * counting the bytes a resumed part already holds, is cut off at once and the part deleted), and a transfer that
 * receives nothing for the stall time (`stallSeconds`, IR_NEURONS_STALL_S, default 60 s) is abandoned with one line,
 * the part kept for the next run to resume. `HF_TOKEN` is sent as a bearer token (gated and private models),
 * `HF_ENDPOINT` replaces https://huggingface.co (mirrors). Nothing is printed here: progress goes to `onProgress`.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { makeDir, writeAll } from '../util/atomic.ts';
import { guardWrite } from '../util/write-error.ts';
import { parseShardIndex } from '../formats/safetensors.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Seconds without a byte after which a transfer is abandoned (`stallSeconds`, IR_NEURONS_STALL_S change it). */
export const DEFAULT_STALL_SECONDS = 60;

/** One file as the hub lists it. */
export interface HubFile {
  path: string;
  size: number;
  /** sha256 of the content (LFS files) */
  sha256?: string;
  /** git blob id: sha1 of `blob <size>\0<content>` (regular files) */
  blobId?: string;
}

export interface DownloadProgress {
  file: string;
  /** bytes of this file on disk so far */
  done: number;
  total: number;
  /** files finished before this one, and how many will be fetched */
  index: number;
  count: number;
}

export interface DownloadOptions {
  /** `org/name` */
  repo: string;
  /** branch, tag or commit; default 'main' */
  revision?: string;
  /** where the files go (created) */
  dir: string;
  /** default: HF_ENDPOINT, else https://huggingface.co */
  endpoint?: string;
  /** default: HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) */
  token?: string;
  /** transfers tried per file before giving up (each retry resumes with a Range request); default 3 */
  attempts?: number;
  /** seconds without a byte (waiting for an answer or within its body) after which the download stops with a
   *  UserError, what was received kept for the next run; default IR_NEURONS_STALL_S, else 60 */
  stallSeconds?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** called with a line when a transfer is retried or a file is already there */
  onNote?: (line: string) => void;
}

export interface DownloadResult {
  dir: string;
  /** the commit the files came from */
  commit: string;
  files: { path: string; size: number; how: 'fetched' | 'resumed' | 'present' }[];
}

interface Sibling { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; size?: unknown } | null }

/** `org/name`: letters, digits, '-', '_', '.'; no '..' and no leading or trailing separators. */
export function checkRepoId(repo: string): void {
  if (!/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(repo) || repo.includes('..') || /[.-]$/.test(repo)) {
    throw new UserError(`'${repo}' is not a model id; give it as on the hub, org/name (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2)`);
  }
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A one-line UserError for a hub answer that is not 2xx. */
function statusError(status: number, url: string, repo: string, token: string | undefined): UserError {
  if (status === 401 || status === 403) {
    return new UserError(token
      ? `${url}: the hub refused the token in HF_TOKEN (HTTP ${status}); ${repo} is gated or private and this token has no access: accept the model's terms on its page with the token's account, or use a token with read access`
      : `${url}: the hub asks for authentication (HTTP ${status}); ${repo} is gated or private: accept its terms on the model page, then set HF_TOKEN to a token with read access (huggingface.co/settings/tokens)`);
  }
  if (status === 404) return new UserError(`${url}: not found (HTTP 404); check the model id and --revision (the repository may also be private: set HF_TOKEN)`);
  return new UserError(`${url}: the hub answered HTTP ${status}; try again later, or set HF_ENDPOINT to a mirror`);
}

/** Raised (inside this file) when a Watchdog fired; the caller turns it into a UserError saying what was kept. */
class Stalled extends Error {
  constructor() { super('no data within the stall time'); this.name = 'Stalled'; }
}

/**
 * Aborts a transfer when nothing arrives for `seconds`: armed when created, re-armed by `kick()` (the answer's
 * headers, every chunk), disarmed by `stop()`, which every transfer calls when it ends (a pending timer would keep
 * the process alive for the rest of the stall time).
 */
class Watchdog {
  readonly ctl = new AbortController();
  stalled = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly seconds: number) { this.kick(); }
  kick(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.stalled = true; this.ctl.abort(new Stalled()); }, this.seconds * 1000);
  }
  stop(): void { clearTimeout(this.timer); }
}

/** The stall time in seconds: `given`, else IR_NEURONS_STALL_S, else 60; a UserError for anything but a number > 0. */
export function stallSeconds(given?: number): number {
  const env = process.env.IR_NEURONS_STALL_S;
  const s = given ?? (env !== undefined && env.trim() !== '' ? Number(env) : DEFAULT_STALL_SECONDS);
  if (!(s > 0 && Number.isFinite(s))) {
    throw new UserError(given !== undefined
      ? `the stall timeout must be a number of seconds > 0, got ${given}`
      : `IR_NEURONS_STALL_S='${env}' is not a number of seconds > 0; unset it (default ${DEFAULT_STALL_SECONDS}) or give e.g. IR_NEURONS_STALL_S=120`);
  }
  return s;
}

/** The one line for a transfer that received nothing for `seconds`; `kept` says what the next run resumes from. */
function stallError(url: string, seconds: number, kept: string): UserError {
  return new UserError(`${url}: no data for ${seconds} s, the connection stalled${kept}; run the command again (it resumes what was received), or allow longer waits with --stall-timeout S or IR_NEURONS_STALL_S`);
}

async function request(url: string, headers: Record<string, string>, endpoint: string, dog?: Watchdog): Promise<Response> {
  try {
    const res = await fetch(url, { headers, redirect: 'follow', signal: dog?.ctl.signal });
    dog?.kick();
    return res;
  } catch (e) {
    if (dog?.stalled) throw new Stalled();
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(`${url}: cannot reach ${endpoint} (${cause?.code ?? cause?.message ?? (e as Error).message}); check the network, or set HF_ENDPOINT to a reachable mirror`);
  }
}

/** The commit and the files of `repo` at `revision`, from the model-info API. */
export async function listFiles(repo: string, revision: string, endpoint: string, token?: string, stall = stallSeconds()): Promise<{ commit: string; files: HubFile[] }> {
  checkRepoId(repo);
  const url = `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const dog = new Watchdog(stall);
  let text = '';
  try {
    const res = await request(url, { accept: 'application/json', ...authHeaders(token) }, endpoint, dog);
    if (!res.ok) throw statusError(res.status, url, repo, token);
    const dec = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      dog.kick();
      text += dec.decode(chunk, { stream: true });
    }
    text += dec.decode();
  } catch (e) {
    if (dog.stalled) throw stallError(url, stall, ' (the list of files)');
    if (e instanceof UserError) throw e;
    throw new UserError(`${url}: the answer stopped (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}); run the command again`);
  } finally {
    dog.stop();
  }
  let info: { sha?: unknown; siblings?: unknown };
  try {
    info = JSON.parse(text) as typeof info;
  } catch (e) {
    throw new UserError(`${url}: the answer is not JSON (${(e as Error).message}); is HF_ENDPOINT a Hugging Face hub or mirror?`);
  }
  if (!Array.isArray(info.siblings)) throw new UserError(`${url}: the answer has no 'siblings' list of files; is HF_ENDPOINT a Hugging Face hub or mirror?`);
  const commit = typeof info.sha === 'string' && /^[0-9a-f]{40}$/.test(info.sha) ? info.sha : revision;
  const files = (info.siblings as Sibling[]).flatMap((s): HubFile[] => {
    if (typeof s.rfilename !== 'string') return [];
    const lfs = s.lfs && typeof s.lfs.sha256 === 'string' ? s.lfs : null;
    const size = typeof lfs?.size === 'number' ? lfs.size : typeof s.size === 'number' ? s.size : NaN;
    return [{ path: s.rfilename, size, sha256: lfs ? String(lfs.sha256) : undefined, blobId: typeof s.blobId === 'string' ? s.blobId : undefined }];
  });
  return { commit, files };
}

/** The files the engine needs, in download order (config first, the weights last); shards come after their index. */
export function pickFiles(files: HubFile[], repo: string): HubFile[] {
  const by = new Map(files.map((f) => [f.path, f]));
  const need = (p: string) => by.get(p);
  const config = need('config.json');
  if (!config) throw new UserError(`${repo} has no config.json at its top level; is it a transformers model repository?`);
  const tok = need('tokenizer.json') ?? need('vocab.txt');
  if (!tok) throw new UserError(`${repo} has neither tokenizer.json nor vocab.txt; download the tokenizer from the base model's repository and pass --tokenizer`);
  const weights = need('model.safetensors') ?? need('model.safetensors.index.json') ?? need('pytorch_model.bin');
  if (!weights) {
    const sharded = need('pytorch_model.bin.index.json') ? ' (only sharded pytorch_model-*.bin, which the loader does not read)' : '';
    throw new UserError(`${repo} has no model.safetensors, model.safetensors.index.json or pytorch_model.bin${sharded}; pick a revision with safetensors weights`);
  }
  return [config, tok, need('tokenizer_config.json'), weights].filter((f): f is HubFile => !!f);
}

/** The shard files named by a model.safetensors.index.json (its `weight_map` values), sorted. */
export function shardNames(indexText: string, file: string): string[] {
  return parseShardIndex(indexText, file, 'download it again').shards;
}

/** A running hash of what the file should be: sha256 of the content, or git's blob id. */
function hasherFor(f: HubFile): { h: Hash; kind: 'sha256' | 'git blob id'; want: string } | null {
  if (f.sha256) return { h: createHash('sha256'), kind: 'sha256', want: f.sha256.toLowerCase() };
  if (f.blobId) {
    const h = createHash('sha1');
    h.update(`blob ${f.size}\0`);
    return { h, kind: 'git blob id', want: f.blobId.toLowerCase() };
  }
  return null;
}

async function hashFile(path: string, h: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

/** Whether `path` already holds `f` (size and hash). */
async function holds(path: string, f: HubFile): Promise<boolean> {
  if (!existsSync(path) || statSync(path).size !== f.size) return false;
  const v = hasherFor(f);
  if (!v) return true;
  await hashFile(path, v.h);
  return v.h.digest('hex') === v.want;
}

/**
 * Downloads one file to `dest` through `dest.part`, resuming what is there. Returns whether a Range request was used.
 * Refuses (and deletes the part) when the size or hash differs from the hub's.
 */
async function fetchFile(url: string, dest: string, f: HubFile, o: Required<Pick<DownloadOptions, 'attempts' | 'endpoint' | 'repo' | 'stallSeconds'>> & DownloadOptions,
  progress: (done: number) => void): Promise<boolean> {
  const part = `${dest}.part`;
  makeDir(dirname(dest));
  let resumed = false;
  let lastError = '';
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    let have = existsSync(part) ? statSync(part).size : 0;
    if (have > f.size) { unlinkSync(part); have = 0; }
    if (have < f.size || !Number.isFinite(f.size)) {
      const headers: Record<string, string> = { ...authHeaders(o.token), 'accept-encoding': 'identity' };
      if (have > 0) headers.range = `bytes=${have}-`;
      const dog = new Watchdog(o.stallSeconds);
      // more than the hub lists, counting what the part holds: the server sends another file (or no end)
      const tooMuch = (n: number, how: string) => {
        dog.ctl.abort();
        if (existsSync(part)) unlinkSync(part);
        return new UserError(`${dest}: the server ${how} ${n} bytes${have > 0 ? ` (with the ${have} resumed)` : ''}, more than the ${f.size} the hub lists, and was cut off; the partial file was deleted: run the command again, and if it happens again ${o.endpoint === DEFAULT_ENDPOINT ? 'the hub' : `the mirror in HF_ENDPOINT (${o.endpoint})`} serves another file than it lists`);
      };
      try {
        let res: Response;
        try {
          res = await request(url, headers, o.endpoint, dog);
        } catch (e) {
          if (e instanceof Stalled) throw stallError(url, o.stallSeconds, have > 0 ? ` before answering; the ${have} bytes received so far are kept in ${part}` : ' before answering');
          throw e;
        }
        if (!res.ok) throw statusError(res.status, url, o.repo, o.token);
        if (have > 0 && res.status === 206) resumed = true;
        else if (have > 0) have = 0;  // the server ignored the Range: start over
        const length = Number(res.headers.get('content-length') ?? NaN);
        if (have + length > f.size && !res.headers.get('content-encoding')) throw tooMuch(have + length, 'announced');
        const fd = guardWrite(part, () => openSync(part, have > 0 ? 'a' : 'w'));
        let done = have;
        let over = 0;
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            dog.kick();
            if (done + chunk.byteLength > f.size) { over = done + chunk.byteLength; break; }  // nothing past the size is written
            writeAll(fd, chunk, part);
            done += chunk.byteLength;
            progress(done);
          }
        } catch (e) {
          if (e instanceof UserError) throw e; // the disk, not the network: the part is kept for the next run
          if (dog.stalled) throw stallError(url, o.stallSeconds, `; ${done} of ${f.size} bytes of ${f.path} are kept in ${part}`);
          lastError = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
        } finally {
          closeSync(fd);
        }
        if (over) throw tooMuch(over, 'sent at least');
      } finally {
        dog.stop();
      }
      const now = statSync(part).size;
      if (Number.isFinite(f.size) && now < f.size) {
        lastError ||= `the server closed the connection after ${now} of ${f.size} bytes`;
        if (attempt < o.attempts) o.onNote?.(`${f.path}: transfer stopped at ${now} of ${f.size} bytes (${lastError}); resuming (attempt ${attempt + 1} of ${o.attempts})`);
        continue;
      }
    }
    const size = statSync(part).size;
    if (Number.isFinite(f.size) && size !== f.size) {
      unlinkSync(part);
      throw new UserError(`${dest}: ${size} bytes received, the hub lists ${f.size}; the partial file was deleted, run the command again to download it afresh`);
    }
    const v = hasherFor(f);
    if (v) {
      await hashFile(part, v.h);
      const got = v.h.digest('hex');
      if (got !== v.want) {
        unlinkSync(part);
        throw new UserError(`${dest}: ${v.kind} ${got} does not match the hub's ${v.want}; the download was corrupted (or the mirror serves another file) and was deleted, run the command again`);
      }
    }
    guardWrite(dest, () => renameSync(part, dest));
    return resumed;
  }
  throw new UserError(`${dest}: the transfer stopped ${o.attempts} times (${lastError}); ${statSync(part).size} bytes are kept in ${part}, run the command again to resume`);
}

/** Downloads what the engine needs of `repo` into `dir`; see the file's header. */
export async function downloadModel(opts: DownloadOptions): Promise<DownloadResult> {
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const token = opts.token ?? (process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined);
  const revision = opts.revision ?? 'main';
  const o = { attempts: 3, ...opts, endpoint, token, revision, stallSeconds: stallSeconds(opts.stallSeconds) };
  const { commit, files } = await listFiles(opts.repo, revision, endpoint, token, o.stallSeconds);
  const queue = pickFiles(files, opts.repo);
  makeDir(opts.dir);
  const out: DownloadResult['files'] = [];
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (let i = 0; i < queue.length; i++) {
    const f = queue[i];
    const dest = join(opts.dir, f.path);
    const url = `${endpoint}/${opts.repo}/resolve/${encodeURIComponent(commit)}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
    const report = (done: number) => o.onProgress?.({ file: f.path, done, total: f.size, index: i, count: queue.length });
    if (await holds(dest, f)) {
      o.onNote?.(`${f.path}: already there (size and hash match)`);
      out.push({ path: f.path, size: f.size, how: 'present' });
    } else {
      const resumed = await fetchFile(url, dest, f, o, report);
      out.push({ path: f.path, size: f.size, how: resumed ? 'resumed' : 'fetched' });
    }
    report(f.size);
    if (f.path === 'model.safetensors.index.json') {
      for (const s of shardNames(readFileSync(dest, 'utf8'), dest)) {
        const shard = byPath.get(s);
        if (!shard) throw new UserError(`${dest}: names the shard ${s}, which ${opts.repo} does not list at ${commit}; the repository is incomplete`);
        if (!queue.includes(shard)) queue.push(shard);
      }
    }
  }
  return { dir: opts.dir, commit, files: out };
}
