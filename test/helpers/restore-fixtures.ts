/**
 * Fixtures for restore tests: the restored paths of the standard test platform, the changes a user makes after a
 * backup (modify, delete, add, chmod, retarget a symlink, a git commit...), and small helpers around the CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { json, mcpOn, type CliRun } from './cli.js';
import { listAll } from './exact-tree.js';
import { git } from './platform.js';
import type { BackupRecord, RestoreResult } from '../../src/index.js';

/** The paths a full backup of the standard platform holds, by label. */
export function restoredPaths(root: string): Record<string, string> {
  return {
    'fs-config': path.join(root, 'services/filesystem/config'),
    'fs-data': path.join(root, 'services/filesystem/data'),
    'git-config': path.join(root, 'services/git/config.json'),
    'git-repos': path.join(root, 'services/git/repos'),
    'mem-config': path.join(root, 'services/memory/config'),
    'mem-data': path.join(root, 'services/memory/data'),
    'platform.yaml': path.join(root, 'platform.yaml'),
  };
}

/** Paths the filesystem service excludes ("**\/*.tmp", "cache/**"): a restore keeps them as they are. */
export function isExcluded(key: string): boolean {
  return key.startsWith('fs-data/') && (key.endsWith('.tmp') || key.startsWith('fs-data/cache/'));
}

/** What a user does after a backup: every kind of change a restore must undo. */
export function mutate(root: string): void {
  const data = path.join(root, 'services/filesystem/data');
  fs.writeFileSync(path.join(data, 'README.md'), '# Documents, edited\n');
  fs.rmSync(path.join(root, 'services/memory/data/memory.json'));
  fs.writeFileSync(path.join(data, 'new.txt'), 'added after the backup\n');
  fs.mkdirSync(path.join(data, 'newdir/deeper'), { recursive: true });
  fs.writeFileSync(path.join(data, 'newdir/deeper/x.txt'), 'x\n');
  fs.chmodSync(path.join(data, 'notes/run.sh'), 0o700);
  fs.chmodSync(path.join(data, 'empty-folder'), 0o700);
  fs.rmSync(path.join(data, 'latest.md'));
  fs.symlinkSync('notes/a.txt', path.join(data, 'latest.md'));
  // The hard link becomes a file of its own with the same content.
  fs.rmSync(path.join(data, 'hardlink-to-a.txt'));
  fs.writeFileSync(path.join(data, 'hardlink-to-a.txt'), 'alpha\n');
  // Excluded paths change too: a restore must leave them as they are now.
  fs.writeFileSync(path.join(data, 'cache/junk.bin'), 'new cache content\n');
  fs.writeFileSync(path.join(data, 'other.tmp'), 'a new temporary file\n');
  fs.writeFileSync(path.join(root, 'services/git/config.json'), '{"repos": "elsewhere"}\n');
  const repo = path.join(root, 'services/git/repos/website');
  fs.writeFileSync(path.join(repo, 'after.txt'), 'committed after the backup\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'after the backup');
  fs.appendFileSync(path.join(root, 'platform.yaml'), '# edited after the backup\n');
}

export function created(run: CliRun): BackupRecord {
  expect(run.stderr, run.stderr).toBe('');
  expect(run.code).toBe(0);
  return json<BackupRecord>(run);
}

export function backup(root: string, ...args: string[]): BackupRecord {
  return created(mcpOn(root, ['create', '--json', ...args]));
}

export function restored(run: CliRun): RestoreResult {
  expect(run.code, run.stderr).toBe(0);
  return json<RestoreResult>(run);
}

/** What restore leaves in the backup folder's temp/ and beside the restored paths: nothing. */
export function expectNoLeftovers(root: string): void {
  expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
  const scratch = listAll(path.join(root, 'services')).filter((p) => p.includes('.mcp-restore-'));
  expect(scratch).toEqual([]);
}

export function gitLog(repo: string): string[] {
  return git(repo, 'log', '--format=%s').trim().split('\n');
}
