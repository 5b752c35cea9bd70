/**
 * Where WGSL sources come from: in Node, files under `shaders/` (registered by src/gpu/node.ts);
 * in the browser bundle, the same files inlined as text by the build. Kernels ask by path,
 * e.g. `matmul/matmul.wgsl`.
 */
export type ShaderProvider = (path: string) => string;

let provider: ShaderProvider | null = null;
const cache = new Map<string, string>();

export function setShaderProvider(p: ShaderProvider): void {
  provider = p;
  cache.clear();
}

export function shaderSource(path: string): string {
  let src = cache.get(path);
  if (src === undefined) {
    if (!provider) throw new Error(`no WGSL provider registered (asked for ${path}); call requestGpu() from src/gpu/node.ts or the browser entry first`);
    src = resolveIncludes(provider(path), path, provider, []);
    cache.set(path, src);
  }
  return src;
}

/** Inlines `#include "path"` lines (paths relative to shaders/), once each, refusing cycles. */
function resolveIncludes(src: string, path: string, p: ShaderProvider, stack: string[]): string {
  if (stack.includes(path)) throw new Error(`WGSL include cycle: ${[...stack, path].join(' -> ')}`);
  return src.replace(/^#include "([^"]+)"\s*$/gm, (_m, inc: string) => `// ---- ${inc} ----\n${resolveIncludes(p(inc), inc, p, [...stack, path])}\n// ---- end ${inc} ----`);
}
