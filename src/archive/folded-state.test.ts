import { describe, expect, it } from 'vitest';
import { seeded } from '../../test/helpers/random.js';
import { FoldedState } from './folded-state.js';
import { FORMAT_VERSION, MANIFEST_FORMAT, type EntryType, type Manifest, type ManifestEntry } from './manifest.js';
import { foldChain } from './state.js';

function entry(path: string, type: EntryType, n: number): ManifestEntry {
  return {
    path,
    type,
    mode: 0o644 + (n % 3),
    uid: 1000 + (n % 2),
    gid: 4_000_000_000 + (n % 5),
    mtimeMs: 1_700_000_000_000 + n + 0.123456,
    size: type === 'file' ? n * 4096 + 2 ** 40 : 0,
    dev: 2049,
    ino: 2 ** 40 + n,
    ctimeMs: 1_700_000_000_500 + n + 0.5,
    ...(type === 'file' && { sha256: n.toString(16).padStart(64, '0') }),
    ...(type === 'symlink' && { link: `target-${n}/é` }),
    ...(type === 'hardlink' && { link: `svc/config/c/f${n}` }),
    ...(n % 11 === 0 && { changedWhileReading: true }),
  };
}

function manifest(id: string, parent: string | undefined, entries: ManifestEntry[], deleted: string[] = []): Manifest {
  return {
    format: MANIFEST_FORMAT,
    formatVersion: FORMAT_VERSION,
    toolVersion: 'test',
    id,
    type: parent ? 'incremental' : 'full',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...(parent && { parent }),
    platform: { name: 'p', root: '/p' },
    services: ['svc'],
    parts: { config: true, volumes: true, logs: false, platformConfig: false },
    roots: [],
    entries,
    deleted,
  };
}

/** A full backup of 3000 entries (past the first columns' room) and `steps` incrementals: modified, new, deleted, and deleted then re-added paths, some stored in an ancestor. */
function randomChain(seed: number, steps: number): Manifest[] {
  const random = seeded(seed);
  const types: EntryType[] = ['file', 'file', 'file', 'dir', 'symlink', 'hardlink'];
  let n = 0;
  const next = (path: string) => entry(path, types[Math.floor(random() * types.length)]!, n++);
  let live = Array.from({ length: 3000 }, (_, i) => `svc/volumes/data/f${i}`);
  const chain = [manifest('b0', undefined, live.map(next))];
  for (let step = 1; step <= steps; step++) {
    const changed = live.filter(() => random() < 0.05).map((p) => ({ ...next(p), ...(random() < 0.3 && { storedIn: `b${step - 1}` }) }));
    const deleted = live.filter(() => random() < 0.03);
    const readded = deleted.filter(() => random() < 0.3).map(next);
    const added = Array.from({ length: 5 }, (_, i) => next(`svc/volumes/data/s${step}-${i}`));
    const entries = [...changed.filter((e) => !deleted.includes(e.path)), ...readded, ...added];
    chain.push(manifest(`b${step}`, `b${step - 1}`, entries, deleted));
    live = [...live.filter((p) => !deleted.includes(p) || readded.some((e) => e.path === p)), ...added.map((e) => e.path)];
  }
  return chain;
}

function fold(chain: readonly Manifest[]): FoldedState {
  const state = new FoldedState();
  for (const m of chain) {
    state.begin(m);
    for (const e of m.entries) state.add(e);
  }
  return state;
}

describe('FoldedState', () => {
  it('folds a chain exactly as foldChain does: same paths, same order, same entries (storedIn included), before and after trimming', () => {
    for (const seed of [1, 2, 3]) {
      const chain = randomChain(seed, 6);
      const expected = [...foldChain(structuredClone(chain))];
      const state = fold(chain);
      expect([...state]).toEqual(expected);
      expect(state.size).toBe(expected.length);
      state.trim();
      expect([...state]).toEqual(expected);
      expect([...state.keys()]).toEqual(expected.map(([p]) => p));
    }
  });

  it('answers lookups as the Map does, and addresses entries by slot', () => {
    const chain = randomChain(4, 3);
    const map = foldChain(structuredClone(chain));
    const state = fold(chain);
    const gone = chain[1]!.deleted.find((p) => !map.has(p))!;
    expect(gone).toBeDefined();
    expect(state.has(gone)).toBe(false);
    expect(state.get(gone)).toBeUndefined();
    expect(state.indexOf(gone)).toBe(-1);
    for (const [p, e] of map) {
      expect(state.get(p)).toEqual(e);
      const slot = state.indexOf(p);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(slot).toBeLessThan(state.slots);
      expect(state.entryAt(slot)).toEqual(e);
    }
  });

  it('keeps a SHA-256 only when it is one, and an entry\'s link only while its last version has one', () => {
    const state = new FoldedState();
    state.begin({ id: 'b0', deleted: [] });
    state.add({ ...entry('a', 'file', 1), sha256: 'ABC' });
    state.add({ ...entry('b', 'file', 2), sha256: 'g'.repeat(64) });
    state.add(entry('c', 'symlink', 3));
    state.add(entry('c', 'file', 4));
    expect(state.get('a')!.sha256).toBeUndefined();
    expect(state.get('b')!.sha256).toBeUndefined();
    expect(state.get('c')!.link).toBeUndefined();
    expect([...state.keys()]).toEqual(['a', 'b', 'c']);
  });
});
