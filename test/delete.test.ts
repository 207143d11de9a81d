/**
 * `mcp backup delete ID` end to end: one backup and its files go; a base that others need is refused with the list
 * of what needs it, unless --with-dependents; removing the last way back is allowed but said.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, mcpOn, type CliRun } from './helpers/cli.js';
import { ago, archiveFiles, backupAt, DAY, filesOf, HOUR, idsOf, smallPlatform, touch } from './helpers/backups.js';
import { snapshotTree } from './helpers/tree.js';
import type { BackupRecord, DeleteResult } from '../src/index.js';

function ok(run: CliRun): CliRun {
  expect(run.code, run.stderr).toBe(0);
  return run;
}

function listed(root: string): BackupRecord[] {
  return json<BackupRecord[]>(ok(mcpOn(root, ['list', '--json'])));
}

/** A full backup with two incrementals on it, and a newer full: oldest first. */
async function chainAndFull(root: string): Promise<{ base: BackupRecord; i1: BackupRecord; i2: BackupRecord; full: BackupRecord }> {
  const base = await backupAt(root, ago(3 * DAY));
  touch(root);
  const i1 = await backupAt(root, ago(2 * DAY), { type: 'incremental' });
  touch(root);
  const i2 = await backupAt(root, ago(DAY), { type: 'incremental' });
  const full = await backupAt(root, ago(HOUR));
  return { base, i1, i2, full };
}

describe('delete', () => {
  it('refuses to delete a base that incrementals need, naming them and the fix, and changes nothing', async () => {
    const root = smallPlatform();
    const { base, i1, i2 } = await chainAndFull(root);
    const before = snapshotTree(root, { mtimes: true });
    for (const id of [base.id, i1.id]) {
      const run = mcpOn(root, ['delete', id]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    const run = mcpOn(root, ['delete', base.id]);
    expect(run.stderr.trim()).toBe(
      `mcp backup: backup ${base.id} is needed to restore 2 later backups that build on it: ${i1.id}, ${i2.id}; delete them first, or pass --with-dependents to delete all of them`,
    );
    expect(mcpOn(root, ['delete', i1.id]).stderr.trim()).toBe(
      `mcp backup: backup ${i1.id} is needed to restore 1 later backup that builds on it: ${i2.id}; delete it first, or pass --with-dependents to delete both`,
    );
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
  });

  it('--with-dependents removes the whole chain, records and files, and nothing else', async () => {
    const root = smallPlatform();
    const { base, i1, i2, full } = await chainAndFull(root);
    const result = json<DeleteResult>(ok(mcpOn(root, ['delete', base.id, '--with-dependents', '--json'])));
    expect(result.dryRun).toBe(false);
    expect(result.id).toBe(base.id);
    expect(result.removed.map((r) => r.id)).toEqual([base.id, i1.id, i2.id]);
    expect(result.freedBytes).toBe(base.size + i1.size + i2.size);
    expect(result.warnings).toEqual([]);
    expect(idsOf(listed(root))).toEqual([full.id]);
    expect(archiveFiles(root)).toEqual(filesOf([full]));
    ok(mcpOn(root, ['verify', '--all']));
  });

  it('deletes a chain from its tip, one backup at a time, by unique prefix', async () => {
    const root = smallPlatform();
    const { base, i1, i2, full } = await chainAndFull(root);
    const run = ok(mcpOn(root, ['delete', i2.id.slice(0, -1)]));
    expect(run.stdout).toContain(`Deleted incremental backup ${i2.id}`);
    ok(mcpOn(root, ['delete', i1.id]));
    ok(mcpOn(root, ['delete', base.id]));
    expect(idsOf(listed(root))).toEqual([full.id]);
    expect(archiveFiles(root)).toEqual(filesOf([full]));
  });

  it('says so when it removes the last restorable backup of a scope', async () => {
    const root = smallPlatform();
    const service = await backupAt(root, ago(2 * HOUR), { type: 'service', services: ['kv'] });
    const full = await backupAt(root, ago(HOUR));
    const run = ok(mcpOn(root, ['delete', service.id]));
    expect(run.stdout).toContain('warning: no restorable backup of kv (config+volumes) is left');
    const last = json<DeleteResult>(ok(mcpOn(root, ['delete', full.id, '--json'])));
    expect(last.lastOfScope).toEqual(['kv,notes (config+volumes+platform.yaml)']);
    expect(listed(root)).toEqual([]);
    expect(archiveFiles(root)).toEqual([]);
  });

  it('--dry-run says what would go and changes nothing', async () => {
    const root = smallPlatform();
    const { base, i1, i2 } = await chainAndFull(root);
    const before = snapshotTree(root, { mtimes: true });
    const run = ok(mcpOn(root, ['delete', base.id, '--with-dependents', '--dry-run']));
    expect(run.stdout).toContain(`Would delete full backup ${base.id}`);
    expect(run.stdout).toContain(`Would delete with it 2 backup(s) that build on it: ${i1.id}, ${i2.id}`);
    expect(run.stdout).toContain('Nothing was changed.');
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
  });

  it('an unknown or ambiguous id fails and changes nothing', async () => {
    const root = smallPlatform();
    const a = await backupAt(root, ago(2 * HOUR));
    const b = await backupAt(root, ago(2 * HOUR));
    const before = snapshotTree(root, { mtimes: true });
    const unknown = mcpOn(root, ['delete', '19990101T000000Z-full-0000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no backup with id 19990101T000000Z-full-0000');
    const ambiguous = mcpOn(root, ['delete', a.id.slice(0, 10)]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain(`backup id ${a.id.slice(0, 10)} is ambiguous`);
    expect(ambiguous.stderr).toContain(a.id);
    expect(ambiguous.stderr).toContain(b.id);
    expect(mcpOn(root, ['delete']).code).toBe(2);
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
  });

  it('a record whose archive is already gone can still be deleted', async () => {
    const root = smallPlatform();
    const a = await backupAt(root, ago(2 * HOUR));
    const b = await backupAt(root, ago(HOUR));
    fs.rmSync(path.join(root, 'backup/archives', a.archive));
    ok(mcpOn(root, ['delete', a.id]));
    expect(idsOf(listed(root))).toEqual([b.id]);
    expect(archiveFiles(root)).toEqual(filesOf([b]));
  });
});
