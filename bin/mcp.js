#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 --expose-gc
// The `mcp` command. Only `mcp backup ...` exists today. The CLI is one bundled file (scripts/bundle.mjs), run here
// as a script with V8's code cache beside it, because `list` must answer in well under 300 ms: loading ~100 modules
// tripled the start-up time, and compiling the bundle at every start cost a sixth of it. A copy of bin/ with the
// ES module bundle alone (dist/mcp.mjs) runs that instead.
//
// The flag on the first line caps V8's young generation (semi-spaces of 4 MB, against 16 MB by default on a
// machine with this much memory): what the CLI allocates per file dies young, and the default only added ~30 MB to
// the peak memory of a backup or a restore, for no speed. --expose-gc lets the compressing workers collect their
// zlib buffers every few blocks (src/workers/deflate-blocks.ts), about 30 MB off a backup's peak. The code cache is
// made under the same flags (V8 refuses it otherwise); `node bin/mcp.js` works too, without all three.
//
// MALLOC_ARENA_MAX=2 keeps glibc from giving each of the process's threads (main, workers, libuv's pool, V8's
// helpers) a malloc arena of its own: the memory freed in each arena stayed resident there, and which threads got
// arenas varied from run to run. Peak RSS of a full backup of the bench data, by hand on 2026-12-01: 12 runs without
// it 165-197 MiB (5 over 190.7 MiB, the 200 MB target), 16 runs with it 154-189 MiB, at the same speed.
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

function loadScript(filename) {
  let source;
  try {
    source = readFileSync(filename, 'latin1'); // ASCII: scripts/bundle.mjs checks it
  } catch {
    return undefined;
  }
  let cachedData;
  try {
    cachedData = readFileSync(`${filename}.cache`);
  } catch {
    // No cache: V8 compiles the bundle, as it would a module.
  }
  const script = new Script(Module.wrap(source), { filename, ...(cachedData && { cachedData }) });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(filename), module, filename, path.dirname(filename));
  return module.exports;
}

const cli = loadScript(fileURLToPath(new URL('../dist/mcp.cjs', import.meta.url))) ?? (await import('../dist/mcp.mjs'));
process.exitCode = await cli.main(process.argv.slice(2));
