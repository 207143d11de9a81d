/**
 * Restoring encrypted backups: to age recipients (keys made by `age-keygen`) and with a passphrase. Without the key a
 * restore is refused before anything is written, while a dry run still plans from this host's cached manifest; the
 * safety backup of the plain live data is encrypted like the backup being restored.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, mcpOn } from './helpers/cli.js';
import { exactSnapshot, expectSameTrees, type ExactSnapshot } from './helpers/exact-tree.js';
import { makePlatform } from './helpers/platform.js';
import { backup, isExcluded, mutate, restored, restoredPaths } from './helpers/restore-fixtures.js';
import { tempDir } from './helpers/tree.js';
import type { BackupRecord, ShowResult } from '../src/index.js';

const hasAge = spawnSync('age-keygen', ['--version']).status === 0;

describe.skipIf(!hasAge)('restore of an encrypted backup', () => {
  let root: string;
  let keys: string;
  let identity: string;
  let full: BackupRecord;
  let atBackup: ExactSnapshot;

  beforeAll(() => {
    keys = tempDir('mcp-restore-keys-');
    identity = path.join(keys, 'key.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'pipe' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    root = makePlatform();
    atBackup = exactSnapshot(restoredPaths(root), { skip: isExcluded });
    full = backup(root, '--type', 'full', '--encrypt', '--recipient', recipient);
    expect(full.encryption.mode).toBe('recipients');
    mutate(root);
  });
  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(keys, { recursive: true, force: true });
  });

  it('without the key: refused before anything is written, but a dry run plans from the cached manifest', () => {
    const before = exactSnapshot({ root });
    const run = mcpOn(root, ['restore', full.id, '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is encrypted to public keys: pass --identity FILE/);
    expect(exactSnapshot({ root })).toEqual(before);
    const dry = restored(mcpOn(root, ['restore', full.id, '--dry-run', '--json']));
    expect(dry.plan.totals.create).toBeGreaterThan(0);
    // Without the host's cache, even planning needs the key.
    fs.renameSync(path.join(root, '.mcp-backup-cache'), path.join(root, '.cache-away'));
    try {
      const noCache = mcpOn(root, ['restore', full.id, '--dry-run']);
      expect(noCache.code).toBe(1);
      expect(noCache.stderr).toMatch(/pass --identity FILE/);
    } finally {
      fs.renameSync(path.join(root, '.cache-away'), path.join(root, '.mcp-backup-cache'));
    }
  });

  it('with --identity: restores exactly, and encrypts the safety backup to that key', () => {
    const result = restored(mcpOn(root, ['restore', full.id, '--identity', identity, '--json']));
    expectSameTrees(exactSnapshot(restoredPaths(root), { skip: isExcluded }), atBackup);
    const safety = json<ShowResult>(mcpOn(root, ['show', result.safetyBackupId!, '--json'])).record;
    expect(safety.encryption.mode).toBe('recipients');
    // The same identity opens it: the restore can be undone.
    restored(mcpOn(root, ['restore', safety.id, '--identity', identity, '--no-safety-backup', '--json']));
    expect(fs.readFileSync(path.join(root, 'services/filesystem/data/README.md'), 'utf8')).toBe('# Documents, edited\n');
  });

  it('with a passphrase from MCP_BACKUP_PASSPHRASE', () => {
    const env = { MCP_BACKUP_PASSPHRASE: 'correct horse battery staple 42' };
    const other = makePlatform();
    try {
      const snapshot = exactSnapshot(restoredPaths(other), { skip: isExcluded });
      const record = json<BackupRecord>(mcpOn(other, ['create', '--type', 'service', '--services', 'memory', '--encrypt', '--json'], { env }));
      expect(record.encryption.mode).toBe('passphrase');
      fs.writeFileSync(path.join(other, 'services/memory/data/memory.json'), '{}\n');
      const wrong = mcpOn(other, ['restore', record.id, '--yes'], { env: { MCP_BACKUP_PASSPHRASE: 'wrong' } });
      expect(wrong.code).toBe(1);
      expect(fs.readFileSync(path.join(other, 'services/memory/data/memory.json'), 'utf8')).toBe('{}\n');
      const result = restored(mcpOn(other, ['restore', record.id, '--json'], { env }));
      expectSameTrees(exactSnapshot(restoredPaths(other), { skip: isExcluded }), snapshot);
      const safety = json<ShowResult>(mcpOn(other, ['show', result.safetyBackupId!, '--json'])).record;
      expect(safety.encryption.mode).toBe('passphrase');
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
