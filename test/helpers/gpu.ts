/** The kernel test helpers (upload named arrays, run dispatches in a validation scope, wait): src/bench/buffers.ts. */
export { done, run, upload, type Bufs, type Init } from '../../src/bench/buffers.ts';
