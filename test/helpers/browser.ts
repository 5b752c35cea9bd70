/**
 * NODE SIDE, never bundled: what the browser tests need to drive the page in headless Chromium.
 *  - `ensureChromium`: Debian's /usr/bin/chromium, installed with apt-get when missing and running as root.
 *  - `serve`: a tiny node:http static server on 127.0.0.1 (GET and HEAD) over folders, single files and in-memory bodies.
 *  - `launchChromium`: playwright-core on that executable, headless, a fresh temporary profile, and the flags under which
 *    Chromium's WebGPU runs on its built-in SwiftShader without a GPU (CHROMIUM_ARGS).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const INSTALL_COMMAND = 'apt-get update && apt-get install -y chromium';

/**
 * Headless Chromium 156 (Debian bookworm) gives a WebGPU adapter on SwiftShader ('google' / 'swiftshader') with these
 * alone: --enable-unsafe-webgpu exposes WebGPU on Linux; the rest keep a test browser off the network and quiet.
 * The page must be a secure context (127.0.0.1 is one; about:blank is not, and has no navigator.gpu).
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

/**
 * The Chromium executable: /usr/bin/chromium, installed through apt-get when missing and this process is root.
 * Returns null (after printing the command to run) when it is missing and cannot be installed here.
 */
export function ensureChromium(log: (msg: string) => void = (m) => console.log(m)): string | null {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.getuid?.() !== 0) {
    log(`note: ${CHROMIUM} is missing; install Debian's Chromium with: sudo sh -c '${INSTALL_COMMAND}'`);
    return null;
  }
  log(`note: ${CHROMIUM} is missing; installing it (${INSTALL_COMMAND})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'chromium']]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 15 * 60_000 });
    if (r.status !== 0) {
      log(`note: apt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal}); install Chromium by hand: ${INSTALL_COMMAND}`);
      return null;
    }
  }
  return existsSync(CHROMIUM) ? CHROMIUM : null;
}

/** URL prefix → a folder, a single file, or a body held in memory. */
export type Route = { prefix: string; dir: string } | { path: string; file: string } | { path: string; body: string | Uint8Array; type?: string };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png', '.wgsl': 'text/plain; charset=utf-8',
};

export interface Server { origin: string; close(): Promise<void> }

/** Serves `routes` (first match wins) on 127.0.0.1 at a free port. */
export async function serve(routes: Route[]): Promise<Server> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const head = req.method === 'HEAD';
    /** Answers with `body`, or streams `file`; a HEAD request gets the headers alone. */
    const send = (status: number, type: string, size: number, body?: Uint8Array, file?: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': size, 'cache-control': 'no-store' });
      if (head || (!body && !file)) return res.end();
      if (file) createReadStream(file).pipe(res);
      else res.end(body);
    };
    if (req.method !== 'GET' && !head) return send(405, 'text/plain', 0);
    for (const r of routes) {
      let file: string | undefined;
      if ('body' in r) {
        if (path !== r.path) continue;
        const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
        return send(200, r.type ?? TYPES[extname(path)] ?? 'application/octet-stream', body.byteLength, body);
      }
      if ('file' in r) {
        if (path !== r.path) continue;
        file = r.file;
      } else {
        if (!path.startsWith(r.prefix)) continue;
        const rel = normalize(path.slice(r.prefix.length) || 'index.html');
        if (rel.startsWith('..') || rel.includes(`${sep}..`)) return send(403, 'text/plain', 0);
        file = join(r.dir, rel.endsWith(sep) ? join(rel, 'index.html') : rel);
      }
      if (!existsSync(file) || !statSync(file).isFile()) continue;
      return send(200, TYPES[extname(file)] ?? 'application/octet-stream', statSync(file).size, undefined, file);
    }
    send(404, 'text/plain', 0);
  };
  const server = createServer(handle);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((res) => { server.closeAllConnections?.(); server.close(() => res()); }),
  };
}

export interface Browser { context: BrowserContext; page: Page; logs: string[]; close(): Promise<void> }

/** Headless Chromium with a fresh profile; page console lines and errors are kept in `logs` (and printed with `echo`). */
export async function launchChromium(executablePath: string, echo = process.env.IR_NEURONS_BROWSER_LOG === '1'): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'ir-neurons-chromium-'));
  // launchPersistentContext passes the profile as --user-data-dir (playwright refuses that flag in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1100, height: 900 }, acceptDownloads: true, timeout: 60_000,
  });
  // tsx compiles the tests with esbuild's keepNames, so functions handed to page.evaluate call __name(): give pages one.
  await context.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
  const page = context.pages()[0] ?? await context.newPage();
  const logs: string[] = [];
  const keep = (line: string) => { logs.push(line); if (echo) console.log(`[chromium] ${line}`); };
  page.on('console', (m) => keep(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => keep(`pageerror: ${e.message}`));
  return {
    context, page, logs,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
