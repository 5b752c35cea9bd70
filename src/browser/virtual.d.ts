/** The WGSL sources, bundled as text by scripts/build-web.mjs: path under shaders/ → source. Exists only in the browser bundle. */
declare module 'ir-neurons:shaders' {
  const shaders: Record<string, string>;
  export default shaders;
}
