/**
 * Runs a service's hook from platform.yaml: a shell command, in the platform root, with the service and the
 * operation in its environment. Its output is kept (bounded) so a failure can say why in one line.
 */
import { spawn } from 'node:child_process';
import { BackupError } from '../errors.js';
import type { HookName } from '../platform/types.js';

const KEEP_OUTPUT = 64 * 1024;

export interface HookContext {
  root: string;
  service: string;
  hook: HookName;
  command: string;
  /** Extra variables, e.g. MCP_BACKUP_ID. */
  env?: Record<string, string>;
}

/** Secrets of this tool that a hook must never see (a hook's output may be logged, its environment dumped). */
const WITHHELD = ['MCP_BACKUP_PASSPHRASE'];

export async function runHook(context: HookContext): Promise<void> {
  const { root, service, hook, command } = context;
  const inherited = { ...process.env };
  for (const name of WITHHELD) delete inherited[name];
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...inherited, MCP_PLATFORM_ROOT: root, MCP_BACKUP_SERVICE: service, MCP_BACKUP_HOOK: hook, ...context.env },
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-KEEP_OUTPUT);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  if (code === 0) return;
  const lastLine = output.trim().split('\n').pop()?.trim();
  const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
  throw new BackupError(
    'HOOK_FAILED',
    `${hook} hook of service ${service} ${how}${lastLine ? `: ${lastLine}` : ''} (command: ${command}); fix the hook in platform.yaml`,
    { service, hook, exitCode: code, output },
  );
}
