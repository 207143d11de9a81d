/**
 * Where a worker's module is, however this code runs: compiled (this file is dist/workers/location.js, the workers
 * beside it), bundled into the CLI (this code is in dist/mcp.mjs, the workers in dist/workers/), or from the
 * TypeScript sources under the test runner (the workers are .ts files, run through tsx).
 */
import type { WorkerOptions } from 'node:worker_threads';

/** Worker modules, by name without extension. */
export type WorkerName = 'write-files' | 'deflate-blocks' | 'read-ahead';

export function workerModule(name: WorkerName): { url: URL; options: Pick<WorkerOptions, 'execArgv'> } {
  const here = new URL('.', import.meta.url);
  const folder = here.pathname.endsWith('/workers/') ? here : new URL('workers/', here);
  // Workers get none of the parent's flags: some fail in a worker (--input-type, when the parent runs code given
  // with -e), and none is needed.
  if (!import.meta.url.endsWith('.ts')) return { url: new URL(`${name}.js`, folder), options: { execArgv: [] } };
  // From the sources: a small module that registers tsx, then loads the worker. (`execArgv: ['--import', 'tsx']`
  // is not applied to workers started under vitest.)
  const source = new URL(`${name}.ts`, folder).href;
  const bootstrap = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
register();
await import(${JSON.stringify(source)});`;
  return { url: new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options: { execArgv: [] } };
}
