/** Runs the real CLI (the built bin/mcp.js) as a child process, the way a user would. */
import { spawn, spawnSync } from 'node:child_process';
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
  const result = spawnSync(process.execPath, [BIN, 'backup', ...args], {
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
  return spawn(process.execPath, [BIN, 'backup', ...args], {
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
