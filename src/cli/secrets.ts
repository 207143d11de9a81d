/**
 * Secrets from the person at the keyboard: the passphrase from MCP_BACKUP_PASSPHRASE or typed at a terminal prompt
 * (no echo; twice when creating), identities from --identity files. Never from a command-line argument, never
 * printed.
 */
import { BackupError } from '../errors.js';
import type { DecryptionKey } from '../crypto/index.js';
import type { BackupManager } from '../backup-manager.js';
import { resolveBackupId } from '../metadata/ids.js';
import type { CliContext } from './context.js';

const PASSPHRASE_ENV = 'MCP_BACKUP_PASSPHRASE';

/** Reads a line from the terminal without echoing it. */
export function askHidden(ctx: CliContext, question: string): Promise<string> {
  const { stderr } = ctx.io;
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    stderr.write(question);
    let answer = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new BackupError('ABORTED', 'interrupted'));
        if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1);
        else answer += char;
      }
    };
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    stdin.on('data', onData);
  });
}

function canPrompt(ctx: CliContext): boolean {
  return ctx.io.stdinIsTTY && ctx.io.stderr.isTTY === true;
}

/** The passphrase for a new encrypted backup, or undefined when none can be had (the library then says how). */
export async function newPassphrase(ctx: CliContext): Promise<string | undefined> {
  const fromEnv = ctx.io.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!canPrompt(ctx)) return undefined;
  const first = await askHidden(ctx, 'Passphrase for this backup: ');
  const second = await askHidden(ctx, 'Same passphrase again: ');
  if (first !== second) throw new BackupError('USAGE', 'the two passphrases differ: run the command again');
  return first;
}

export interface KeyOptions {
  identity?: string[];
}

/**
 * The key to open encrypted backups: identities from --identity files, and the passphrase from the environment or,
 * when `needPassphrase` and on a terminal, a prompt.
 */
export async function decryptionKey(ctx: CliContext, options: KeyOptions, needPassphrase: boolean): Promise<DecryptionKey | undefined> {
  const identities: string[] = [];
  const files = options.identity ?? [];
  if (files.length > 0) {
    // Loaded when needed: most commands never touch the encryption library, a quarter of the CLI's code.
    const { readIdentityFile } = await import('../crypto/index.js');
    for (const file of files) identities.push(...(await readIdentityFile(file, { onWarning: (m) => ctx.warn(m) })));
  }
  let passphrase = ctx.io.env[PASSPHRASE_ENV] || undefined;
  if (passphrase === undefined && needPassphrase && canPrompt(ctx)) passphrase = await askHidden(ctx, 'Passphrase: ');
  if (identities.length === 0 && passphrase === undefined) return undefined;
  return { ...(identities.length > 0 && { identities }), ...(passphrase !== undefined && { passphrase }) };
}

/** True when one of the backups named (all when undefined), or their chains, is encrypted with a passphrase. */
export async function needsPassphrase(manager: BackupManager, ids: readonly string[] | undefined): Promise<boolean> {
  const records = await manager.records();
  const selected = ids === undefined ? records : ids.flatMap((id) => {
    try {
      return [resolveBackupId(records, id)];
    } catch {
      return []; // The command itself reports an unknown id.
    }
  });
  const ancestors = new Set<string>();
  for (let queue = [...selected]; queue.length > 0; ) {
    const record = queue.pop()!;
    if (ancestors.has(record.id)) continue;
    ancestors.add(record.id);
    const parent = records.find((r) => r.id === record.parent);
    if (parent) queue.push(parent);
  }
  return records.some((r) => ancestors.has(r.id) && r.encryption.mode === 'passphrase');
}
