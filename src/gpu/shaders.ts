/**
 * Where WGSL sources come from: in Node, files under `shaders/` (registered by src/gpu/node.ts);
 * in the browser bundle, the same files inlined as text by the build. Kernels ask by path,
 * e.g. `matmul/matmul.wgsl`, and a template's variant by path and its values (src/gpu/template.ts): the
 * template is expanded here, at load, in Node and in the browser alike; `#include "path"` lines are then inlined.
 */
import { expandTemplate, isTemplate, type TemplateValues } from './template.ts';

export type ShaderProvider = (path: string) => string;

let provider: ShaderProvider | null = null;
const cache = new Map<string, string>();

export function setShaderProvider(p: ShaderProvider): void {
  provider = p;
  cache.clear();
}

/** The WGSL of `path` (includes inlined); of a template, the variant with `values` (refused without them). */
export function shaderSource(path: string, values?: TemplateValues): string {
  const key = values ? `${path}?${Object.entries(values).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&')}` : path;
  let src = cache.get(key);
  if (src === undefined) {
    if (!provider) throw new Error(`no WGSL provider registered (asked for ${path}); call requestGpu() from src/gpu/node.ts or the browser entry first`);
    const text = provider(path);
    if (!values && isTemplate(text)) throw new Error(`shaders/${path} is a template (src/gpu/template.ts): ask for one of its variants`);
    src = resolveIncludes(values ? expandTemplate(text, values, `shaders/${path}`) : text, path, provider, []);
    cache.set(key, src);
  }
  return src;
}

/** Inlines `#include "path"` lines (paths relative to shaders/), once each, refusing cycles. */
function resolveIncludes(src: string, path: string, p: ShaderProvider, stack: string[]): string {
  if (stack.includes(path)) throw new Error(`WGSL include cycle: ${[...stack, path].join(' -> ')}`);
  return src.replace(/^#include "([^"]+)"\s*$/gm, (_m, inc: string) => `// ---- ${inc} ----\n${resolveIncludes(p(inc), inc, p, [...stack, path])}\n// ---- end ${inc} ----`);
}
