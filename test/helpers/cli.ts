/** Runs the real CLI (the built bin/mcp.js) as a child process, the way a user would: as an executable. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO_ROOT, 'bin/mcp.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string;
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', MCP_PLATFORM_HOME: undefined, ...extra };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return env;
}

/** `mcp backup <args>` synchronously. */
export function mcp(args: string[], options: CliOptions = {}): CliRun {
  const result = spawnSync(BIN, ['backup', ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: childEnv(options.env),
    input: options.input ?? '',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `mcp backup <args> --platform <root>`, the common case. */
export function mcpOn(root: string, args: string[], options: CliOptions = {}): CliRun {
  return mcp(['--platform', root, ...args], options);
}

/** Starts `mcp backup <args>` without waiting (for kill and concurrency tests). */
export function spawnMcp(args: string[], options: CliOptions = {}) {
  return spawn(BIN, ['backup', ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Parses --json output, failing the test with the CLI's stderr when it is not JSON. */
export function json<T>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`expected JSON on stdout, got:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

let publicBinPath: string | undefined;

/**
 * The CLI at a path any user can read, for tests that run it as an unprivileged user: the checkout itself may sit
 * in a folder only its owner can enter (a CI clone in a 0700 temp folder). The bundle is self-contained but for its
 * worker threads' modules (dist/workers/ and what they import).
 */
export function publicBin(): string {
  if (publicBinPath) return publicBinPath;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-bin-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'bin'), { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'dist'), { mode: 0o755 });
  fs.copyFileSync(BIN, path.join(dir, 'bin/mcp.js'));
  fs.copyFileSync(path.join(REPO_ROOT, 'dist/mcp.mjs'), path.join(dir, 'dist/mcp.mjs'));
  for (const file of ['bin/mcp.js', 'dist/mcp.mjs']) fs.chmodSync(path.join(dir, file), 0o755);
  // Worker threads run from their own modules (dist/workers/, which import from the rest of dist/).
  for (const folder of fs.readdirSync(path.join(REPO_ROOT, 'dist'), { withFileTypes: true })) {
    if (!folder.isDirectory()) continue;
    const copy = path.join(dir, 'dist', folder.name);
    fs.cpSync(path.join(REPO_ROOT, 'dist', folder.name), copy, { recursive: true, filter: (source) => !source.endsWith('.d.ts') });
    fs.chmodSync(copy, 0o755);
    for (const file of fs.readdirSync(copy, { recursive: true, encoding: 'utf8' })) fs.chmodSync(path.join(copy, file), fs.statSync(path.join(copy, file)).isDirectory() ? 0o755 : 0o644);
  }
  publicBinPath = path.join(dir, 'bin/mcp.js');
  return publicBinPath;
}
