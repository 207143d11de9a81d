import { describe, expect, it } from 'vitest';
import { CompactState } from '../archive/compact-state.js';
import type { StateEntry } from '../archive/state.js';
import type { ScannedEntry } from '../walk/scan.js';
import { entryChange, StateDiff, type ChangeReason, type ContentCheck } from './changes.js';

const base: ScannedEntry = {
  path: 'svc/volumes/data/a.txt',
  absolute: '/p/a.txt',
  type: 'file',
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  mtimeMs: 1_700_000_000_000.5,
  size: 10,
  dev: 1,
  ino: 42,
  ctimeMs: 1_700_000_000_000.5,
  nlink: 1,
};

function state(entry: ScannedEntry, extra: Partial<StateEntry> = {}): StateEntry {
  const { absolute: _a, nlink: _n, ...rest } = entry;
  return { ...rest, sha256: 'a'.repeat(64), storedIn: 'b1', ...extra };
}

describe('entryChange', () => {
  it.each<[string, Partial<ScannedEntry>, ChangeReason | undefined]>([
    ['nothing changed', {}, undefined],
    ['a different device only (remount)', { dev: 2 }, undefined],
    ['size', { size: 11 }, 'size'],
    ['mtime', { mtimeMs: base.mtimeMs + 1 }, 'mtime'],
    ['mtime sub-millisecond', { mtimeMs: base.mtimeMs + 0.25 }, 'mtime'],
    ['ctime only (content rewritten, mtime put back)', { ctimeMs: base.ctimeMs + 5 }, 'ctime'],
    ['inode only (replaced by a copy)', { ino: 43 }, 'inode'],
    ['mode', { mode: 0o600 }, 'mode'],
    ['owner', { uid: 0 }, 'owner'],
    ['group', { gid: 0 }, 'owner'],
    ['file became a folder', { type: 'dir', size: 0 }, 'type'],
  ])('%s', (_name, change, expected) => {
    expect(entryChange(state(base), { ...base, ...change })).toBe(expected);
  });

  it('a new path is new', () => {
    expect(entryChange(undefined, base)).toBe('new');
  });

  it('a retargeted symlink is a change; a folder whose ctime moved is not', () => {
    const link: ScannedEntry = { ...base, type: 'symlink', size: 0, link: 'a' };
    expect(entryChange(state(link), { ...link, link: 'b' })).toBe('link');
    const dir: ScannedEntry = { ...base, type: 'dir', size: 0 };
    expect(entryChange(state(dir), { ...dir, ctimeMs: dir.ctimeMs + 1 })).toBeUndefined();
  });
});

/** A whole scan through StateDiff: what changed, what was deleted, how many entries did not change. */
function diffAgainstState(previous: CompactState, scanned: readonly ScannedEntry[], contentChanged?: ContentCheck) {
  const diff = new StateDiff(previous, contentChanged);
  const changed = scanned.filter((entry) => diff.changed(entry));
  return { changed, deleted: diff.deleted(), unchanged: diff.unchanged.entries };
}

describe('StateDiff', () => {
  const a = base;
  const b: ScannedEntry = { ...base, path: 'svc/volumes/data/b.txt', ino: 43 };
  const gone: ScannedEntry = { ...base, path: 'svc/volumes/data/old', type: 'dir', size: 0, ino: 44 };
  const goneChild: ScannedEntry = { ...base, path: 'svc/volumes/data/old/x', ino: 45 };
  const previous = CompactState.of([a, b, gone, goneChild].map((e) => state(e)));

  it('splits changed, unchanged and deleted, keeping scan order', () => {
    const added: ScannedEntry = { ...base, path: 'svc/volumes/data/c.txt', ino: 46 };
    const changes = diffAgainstState(previous, [a, { ...b, size: 99 }, added]);
    expect(changes.changed.map((e) => e.path)).toEqual([b.path, added.path]);
    expect(changes.deleted).toEqual([gone.path, goneChild.path]);
    expect(changes.unchanged).toBe(1);
    const diff = new StateDiff(previous);
    [a, { ...b, size: 99 }, added].forEach((entry) => diff.changed(entry));
    expect(diff.unchanged).toEqual({ entries: 1, files: 1, bytes: a.size });
  });

  it('gives the same split against a state read back from its file (paths compared as bytes), unicode paths and out-of-step ones included', () => {
    const uni: ScannedEntry = { ...base, path: 'svc/volumes/data/é ü/日本.txt', ino: 47 };
    const entries = [a, b, uni, gone, goneChild];
    const written = CompactState.of(entries.map((e) => state(e)));
    const read = CompactState.decode(written.encode({ id: 'b1', manifestSha256: 'x' }), 'test').state;
    const added: ScannedEntry = { ...base, path: 'svc/volumes/data/c.txt', ino: 46 };
    for (const scan of [entries, [a, { ...b, size: 99 }, added, uni], [uni, added, a], []]) {
      const fromFile = diffAgainstState(read, scan.map((e) => ({ ...e })));
      expect(fromFile).toEqual(diffAgainstState(written, scan.map((e) => ({ ...e }))));
    }
    expect(diffAgainstState(read, entries).unchanged).toBe(5);
  });

  it('asks about content only for files whose metadata matches', () => {
    const asked: string[] = [];
    const changes = diffAgainstState(previous, [a, { ...b, size: 5 }], (_p, current) => {
      asked.push(current.path);
      return true;
    });
    expect(asked).toEqual([a.path]);
    expect(changes.changed.map((e) => e.path)).toEqual([a.path, b.path]);
  });
});
