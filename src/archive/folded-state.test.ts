import { describe, expect, it } from 'vitest';
import { chainEntry, randomChain } from '../../test/helpers/chains.js';
import { FoldedState } from './folded-state.js';
import type { Manifest } from './manifest.js';
import { foldChain } from './state.js';

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
      const chain = randomChain(seed, 6, { size: 3000, storedIn: true });
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
    const chain = randomChain(4, 3, { size: 3000, storedIn: true });
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
    state.add({ ...chainEntry('a', 'file', 1), sha256: 'ABC' });
    state.add({ ...chainEntry('b', 'file', 2), sha256: 'g'.repeat(64) });
    state.add(chainEntry('c', 'symlink', 3));
    state.add(chainEntry('c', 'file', 4));
    expect(state.get('a')!.sha256).toBeUndefined();
    expect(state.get('b')!.sha256).toBeUndefined();
    expect(state.get('c')!.link).toBeUndefined();
    expect([...state.keys()]).toEqual(['a', 'b', 'c']);
  });
});
