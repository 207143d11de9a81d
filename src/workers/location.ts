/**
 * Where a worker's module is, however this code runs: compiled (this file is dist/workers/location.js, the workers
 * beside it), bundled into the CLI (this code is in dist/mcp.mjs, the workers in dist/workers/), or from the
 * TypeScript sources under the test runner (the workers are .ts files, run through tsx).
 */
import type { WorkerOptions } from 'node:worker_threads';

/** Worker modules, by name without extension. */
export type WorkerName = 'write-files' | 'deflate-blocks';

export function workerModule(name: WorkerName): { url: URL; options: Pick<WorkerOptions, 'execArgv'> } {
  const here = new URL('.', import.meta.url);
  const folder = here.pathname.endsWith('/workers/') ? here : new URL('workers/', here);
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    url: new URL(`${name}${fromSource ? '.ts' : '.js'}`, folder),
    options: fromSource ? { execArgv: ['--import', 'tsx'] } : {},
  };
}
