/** The restore plan as a table: what a state and a disk scan make of each entry. */
import { describe, expect, it } from 'vitest';
import { FoldedState } from '../archive/folded-state.js';
import type { StateEntry } from '../archive/state.js';
import type { DestinationScan, DiskEntry } from './disk.js';
import { planRestore, sameTime } from './plan.js';
import type { RestoreRoot } from './roots.js';

const ROOT: RestoreRoot = { service: 'svc', part: 'volumes', source: 'data', archiveRoot: 'svc/volumes/data', destination: '/p/data', exclude: [] };
const T = 1_700_000_000_000.123;

function wanted(path: string, type: StateEntry['type'], extra: Partial<StateEntry> = {}): StateEntry {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtimeMs: T, size: type === 'file' ? 10 : 0, dev: 1, ino: 1, ctimeMs: T, storedIn: 'b1', ...(type === 'file' && { sha256: 'a'.repeat(64) }), ...extra };
}

function found(path: string, type: DiskEntry['type'], extra: Partial<DiskEntry> = {}): DiskEntry {
  return { path, absolute: path.replace('svc/volumes/data', '/p/data'), type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: type === 'file' ? 10 : 0, mtimeMs: T, dev: 1, ino: 7, ...extra };
}

function plan(state: StateEntry[], disk: DiskEntry[], options: { kept?: number; exists?: boolean; owners?: boolean } = {}) {
  const s = FoldedState.of(state);
  const scan: DestinationScan = {
    root: ROOT,
    exists: options.exists ?? disk.length > 0,
    present: disk,
    kept: Array.from({ length: options.kept ?? 0 }, () => ({ parent: ROOT.archiveRoot, name: Buffer.from('x.tmp'), reason: 'excluded' as const })),
  };
  return planRestore({ backupId: 'b1', chain: ['b1'], roots: [ROOT], state: s, scans: [scan], compareOwners: options.owners ?? false });
}

const root = wanted('svc/volumes/data', 'dir');
const rootOnDisk = found('svc/volumes/data', 'dir');

describe('planRestore', () => {
  it.each([
    ['same metadata', found('svc/volumes/data/f', 'file'), undefined],
    ['other size', found('svc/volumes/data/f', 'file', { size: 11 }), 'content'],
    ['other mtime', found('svc/volumes/data/f', 'file', { mtimeMs: T + 5 }), 'content'],
    ['mtime within utimes precision', found('svc/volumes/data/f', 'file', { mtimeMs: T + 0.0004 }), undefined],
    ['other mode', found('svc/volumes/data/f', 'file', { mode: 0o600 }), 'mode (600 -> 644)'],
    ['a folder where a file was', found('svc/volumes/data/f', 'dir'), 'type (dir -> file)'],
    ['a symlink where a file was', found('svc/volumes/data/f', 'symlink', { link: 'x' }), 'type (symlink -> file)'],
  ])('a file: %s', (_name, disk, reason) => {
    const result = plan([root, wanted('svc/volumes/data/f', 'file')], [rootOnDisk, disk]);
    const svc = result.services[0]!;
    if (reason === undefined) {
      expect(svc.overwrite).toEqual([]);
      expect(svc.unchanged).toBe(2);
      expect(svc.bytesToWrite).toBe(0);
    } else {
      expect(svc.overwrite).toEqual([{ path: 'svc/volumes/data/f', destination: '/p/data/f', type: 'file', size: 10, reason }]);
      expect(svc.bytesToWrite).toBe(10);
    }
  });

  it('owners count only when they are restored', () => {
    const state = [root, wanted('svc/volumes/data/f', 'file')];
    const disk = [rootOnDisk, found('svc/volumes/data/f', 'file', { uid: 1000 })];
    expect(plan(state, disk).services[0]!.overwrite).toEqual([]);
    expect(plan(state, disk, { owners: true }).services[0]!.overwrite.map((c) => c.reason)).toEqual(['owner']);
  });

  it('a symlink: its target decides, not its mode', () => {
    const state = [root, wanted('svc/volumes/data/l', 'symlink', { link: 'a', mode: 0o777 })];
    expect(plan(state, [rootOnDisk, found('svc/volumes/data/l', 'symlink', { link: 'a', mode: 0o777 })]).services[0]!.unchanged).toBe(2);
    expect(plan(state, [rootOnDisk, found('svc/volumes/data/l', 'symlink', { link: 'b', mode: 0o777 })]).services[0]!.overwrite[0]!.reason).toBe('link');
  });

  it('a hard link is unchanged only while it still shares its file with its target', () => {
    const state = [root, wanted('svc/volumes/data/a', 'file'), wanted('svc/volumes/data/h', 'hardlink', { link: 'svc/volumes/data/a', size: 0 })];
    const linked = [rootOnDisk, found('svc/volumes/data/a', 'file', { ino: 9 }), found('svc/volumes/data/h', 'file', { ino: 9 })];
    expect(plan(state, linked).services[0]!.unchanged).toBe(3);
    const split = [rootOnDisk, found('svc/volumes/data/a', 'file', { ino: 9 }), found('svc/volumes/data/h', 'file', { ino: 10 })];
    expect(plan(state, split).services[0]!.overwrite.map((c) => [c.path, c.reason])).toEqual([['svc/volumes/data/h', 'content']]);
  });

  it('lists every created entry with its destination, type and size, in the plan as read and as serialised', () => {
    // The create list is made from the state when read (it is every entry of a restore into an empty folder).
    const state = [root, wanted('svc/volumes/data/f', 'file', { size: 25 }), wanted('svc/volumes/data/l', 'symlink', { link: 'f' })];
    const result = plan(state, [], { exists: false });
    const expected = [
      { path: 'svc/volumes/data', destination: '/p/data', type: 'dir', size: 0 },
      { path: 'svc/volumes/data/f', destination: '/p/data/f', type: 'file', size: 25 },
      { path: 'svc/volumes/data/l', destination: '/p/data/l', type: 'symlink', size: 0 },
    ];
    expect(result.services[0]!.create).toEqual(expected);
    expect((JSON.parse(JSON.stringify(result)) as typeof result).services[0]!.create).toEqual(expected);
    expect(result.totals.create).toBe(3);
    expect(result.services[0]!.createCount).toBe(3);
  });

  it('creates what is missing, deletes what the backup did not have, and counts what is kept', () => {
    const state = [root, wanted('svc/volumes/data/new', 'file', { size: 25 }), wanted('svc/volumes/data/dir', 'dir')];
    const disk = [rootOnDisk, found('svc/volumes/data/gone', 'dir'), found('svc/volumes/data/gone/x', 'file', { size: 3 })];
    const svc = plan(state, disk, { kept: 2 }).services[0]!;
    expect(svc.create.map((c) => c.path)).toEqual(['svc/volumes/data/new', 'svc/volumes/data/dir']);
    expect(svc.delete.map((c) => [c.destination, c.type, c.size])).toEqual([
      ['/p/data/gone', 'dir', 0],
      ['/p/data/gone/x', 'file', 3],
    ]);
    expect(svc).toMatchObject({ kept: 2, files: 1, bytes: 25, bytesToWrite: 25, entries: 3, unchanged: 1 });
  });

  it('a lost path: everything is created', () => {
    const result = plan([root, wanted('svc/volumes/data/f', 'file')], [], { exists: false });
    expect(result.services[0]!.roots).toEqual([{ archiveRoot: 'svc/volumes/data', part: 'volumes', destination: '/p/data', exists: false }]);
    expect(result.totals).toMatchObject({ create: 2, overwrite: 0, delete: 0, bytesToWrite: 10 });
    expect(result.inPlace).toBe(true);
  });

  it('puts platform.yaml last', () => {
    const yaml: RestoreRoot = { service: '_platform', part: 'platform', source: 'platform.yaml', archiveRoot: '_platform/platform.yaml', destination: '/p/platform.yaml', exclude: [] };
    const s = FoldedState.of([wanted('_platform/platform.yaml', 'file'), root]);
    const empty = (r: RestoreRoot): DestinationScan => ({ root: r, exists: false, present: [], kept: [] });
    const result = planRestore({ backupId: 'b', chain: ['b'], roots: [yaml, ROOT], state: s, scans: [empty(yaml), empty(ROOT)], compareOwners: false, target: '/t' });
    expect(result.services.map((x) => x.service)).toEqual(['svc', '_platform']);
    expect(result.target).toBe('/t');
    expect(result.inPlace).toBe(false);
  });

  it('sameTime: to the millisecond', () => {
    expect(sameTime(T, T + 0.9)).toBe(true);
    expect(sameTime(T, T + 1)).toBe(false);
  });
});
