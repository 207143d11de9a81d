// Bundles the CLI into one file: loading ~100 separate modules tripled the CLI's start-up time. The same bundle is
// written twice:
// - dist/mcp.cjs, a script, which bin/mcp.js runs with V8's code cache (dist/mcp.cjs.cache, made here): compiling
//   the 1 MB bundle at every start was a sixth of `mcp backup list`, and Node 20 caches compiled code for scripts
//   only, not for ES modules;
// - dist/mcp.mjs, the ES module, for code that imports the CLI (tests) and for a bin/ copied without the script.
// Some dependencies are CommonJS, hence the require/__filename shim of the ES module.
// The script is ASCII (esbuild escapes what it can, and the build fails on anything left), so bin/mcp.js reads it as
// latin1: decoding 1 MB as UTF-8 took 9 ms more of every start-up.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { build } from 'esbuild';

const common = {
  entryPoints: ['dist/cli/main.js'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  logLevel: 'warning',
};

async function bundle() {
  await build({
    ...common,
    outfile: 'dist/mcp.mjs',
    format: 'esm',
    banner: {
      js: [
        "import { createRequire as __createRequire } from 'node:module';",
        "import { fileURLToPath as __fileURLToPath } from 'node:url';",
        "import { dirname as __pathDirname } from 'node:path';",
        'const require = __createRequire(import.meta.url);',
        'const __filename = __fileURLToPath(import.meta.url);',
        'const __dirname = __pathDirname(__filename);',
      ].join('\n'),
    },
  });

  await build({
    ...common,
    outfile: 'dist/mcp.cjs',
    format: 'cjs',
    // The workers' location is found from import.meta.url (src/workers/location.ts).
    define: { 'import.meta': '__importMeta' },
    banner: { js: "const __importMeta = { url: require('node:url').pathToFileURL(__filename).href };" },
  });
  const nonAscii = /[\u0080-\uffff].{0,40}/.exec(readFileSync('dist/mcp.cjs', 'latin1'));
  if (nonAscii) throw new Error(`dist/mcp.cjs is not ASCII (bin/mcp.js reads it as latin1): escape the character in "${nonAscii[0]}"`);
}

// The code cache: the bundle is run as bin/mcp.js runs it, through `--help` of `list` so that the functions a
// command goes through are compiled too, then V8's compiled code is saved. V8 refuses a cache made by another
// version of itself, for another source or under other V8 flags (bin/mcp.js then compiles as usual), so it is made
// in a child process started with the flags of bin/mcp.js's first line.
if (process.argv[2] === '--code-cache') {
  const filename = path.resolve('dist/mcp.cjs');
  const script = new Script(Module.wrap(readFileSync(filename, 'latin1')), { filename });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(filename), module, filename, path.dirname(filename));
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  await module.exports.main(['backup', 'list', '--help'], { stdout: silent, stderr: silent, stdinIsTTY: false, env: {}, cwd: process.cwd() });
  writeFileSync('dist/mcp.cjs.cache', script.createCachedData());
} else {
  await bundle();
  // "#!/usr/bin/env -S node --flag ...": what follows "node".
  const shebang = readFileSync('bin/mcp.js', 'utf8').split('\n', 1)[0].split(/\s+/);
  const flags = shebang.slice(shebang.indexOf('node') + 1);
  execFileSync(process.execPath, [...flags, fileURLToPath(import.meta.url), '--code-cache'], { stdio: 'inherit' });
}
