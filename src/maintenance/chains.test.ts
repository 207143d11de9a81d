import { describe, expect, it } from 'vitest';
import type { BackupRecord } from '../metadata/record.js';
import { dependentsOf, scopesLeftWithoutBackup } from './chains.js';
import { filesToDelete } from './remove.js';

const ALL = { config: true, volumes: true, logs: false, platformConfig: true };
const SERVICE = { config: true, volumes: true, logs: false, platformConfig: false };

function r(id: string, createdAt: string, parent?: string, services = ['a', 'b'], parts = ALL): BackupRecord {
  return {
    id,
    type: parent ? 'incremental' : services.length === 1 ? 'service' : 'full',
    createdAt,
    services,
    parts,
    ...(parent && { parent }),
    archive: `${id}.tar.gz`,
    manifest: `${id}.manifest.json.gz`,
  } as BackupRecord;
}

const f1 = r('20260301T000000Z-full-0001', '2026-03-01T00:00:00Z');
const i1 = r('20260302T000000Z-incremental-0002', '2026-03-02T00:00:00Z', f1.id);
const i2 = r('20260303T000000Z-incremental-0003', '2026-03-03T00:00:00Z', i1.id);
const branch = r('20260304T000000Z-incremental-0004', '2026-03-04T00:00:00Z', i1.id);
const s1 = r('20260305T000000Z-service-0005', '2026-03-05T00:00:00Z', undefined, ['a'], SERVICE);
const all = [branch, s1, i2, f1, i1];

describe('dependentsOf', () => {
  it('finds every backup that builds on one, through branches, oldest first', () => {
    expect(dependentsOf(all, f1.id).map((d) => d.id)).toEqual([i1.id, i2.id, branch.id]);
    expect(dependentsOf(all, i1.id).map((d) => d.id)).toEqual([i2.id, branch.id]);
    expect(dependentsOf(all, i2.id)).toEqual([]);
    expect(dependentsOf(all, s1.id)).toEqual([]);
  });

  it('survives a parent loop', () => {
    const x = r('20260301T000000Z-incremental-000x', '2026-03-01T00:00:00Z', '20260301T000000Z-incremental-000y');
    const y = r('20260301T000000Z-incremental-000y', '2026-03-01T00:00:01Z', x.id);
    expect(dependentsOf([x, y], x.id).map((d) => d.id)).toEqual([y.id]);
  });
});

describe('scopesLeftWithoutBackup', () => {
  it('names the scopes a removal leaves with no restorable backup', () => {
    expect(scopesLeftWithoutBackup(all, all.filter((b) => b !== s1))).toEqual(['a (config+volumes)']);
    // The incrementals go with their base: their chains are broken, so the scope has no way back.
    expect(scopesLeftWithoutBackup(all, [s1, i1, i2])).toEqual(['a,b (config+volumes+platform.yaml)']);
    expect(scopesLeftWithoutBackup(all, [f1, s1])).toEqual([]);
  });
});

describe('filesToDelete', () => {
  it('deletes only a removed backup\'s own files that no remaining record names', () => {
    const edited = { ...i2, manifest: f1.manifest, archive: 'notes.txt' };
    expect(filesToDelete([i1, edited], [f1])).toEqual({
      files: [i1.archive, i1.manifest],
      left: [
        { file: 'notes.txt', reason: `not a file name of backup ${i2.id}: left in place` },
        { file: f1.manifest, reason: `not a file name of backup ${i2.id}: left in place` },
      ],
    });
    const twin = { ...f1, id: '20260301T000000Z-full-9999', manifest: '20260301T000000Z-full-9999.manifest.json.gz' };
    expect(filesToDelete([f1], [{ ...twin, archive: f1.archive }]).left).toEqual([
      { file: f1.archive, reason: 'another backup in the index names it: left in place' },
    ]);
  });
});
