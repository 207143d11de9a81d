import { describe, expect, it } from 'vitest';
import { chainEntry, chainManifest, randomChain } from '../../test/helpers/chains.js';
import { isBackupError } from '../errors.js';
import { CompactState } from './compact-state.js';
import type { ManifestEntry } from './manifest.js';
import { foldChain } from './state.js';

/** What a state says of each path, in its order: the same shape for a CompactState and foldChain's Map. */
function rows(state: CompactState): unknown[] {
  return state.paths.map((path, i) => ({ path, ...state.facts(i), sha256: state.sha256(i) }));
}

function rowsOf(entries: Iterable<ManifestEntry>): unknown[] {
  return [...entries].map((e) => ({
    path: e.path,
    type: e.type,
    size: e.size,
    mtimeMs: e.mtimeMs,
    ctimeMs: e.ctimeMs,
    ino: e.ino,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    ...(e.link !== undefined && { link: e.link }),
    sha256: e.sha256,
  }));
}

describe('CompactState', () => {
  it('folds a chain exactly as foldChain does: same paths, same order, same facts', () => {
    for (const seed of [1, 2, 3]) {
      const chain = randomChain(seed, 6, { size: 200 });
      let state: CompactState | undefined;
      chain.forEach((m, i) => (state = CompactState.fold(state, chain[i - 1]?.id, m)));
      const folded = foldChain(structuredClone(chain));
      expect(rows(state!)).toEqual(rowsOf(folded.values()));
    }
  });

  it('builds a chain\'s first state entry by entry as foldChain folds it, a path given twice included', () => {
    const [first] = randomChain(8, 0, { size: 200 });
    const twice = { ...first!, entries: [...first!.entries, { ...first!.entries[3]!, size: 5, sha256: undefined, link: 'x' }] };
    const builder = CompactState.builder();
    for (const entry of twice.entries) builder.add(entry);
    expect(rows(builder.finish(twice))).toEqual(rowsOf(foldChain([structuredClone(twice)]).values()));
    expect(() => CompactState.builder().finish({ ...twice, parent: 'b0' })).toThrow(/does not continue the chain/);
    // Past its first columns' room.
    const many = Array.from({ length: 3000 }, (_, i) => chainEntry(`svc/volumes/data/m${i}`, i % 7 === 0 ? 'symlink' : 'file', i));
    const grown = CompactState.builder();
    for (const e of many) grown.add(e);
    expect(rows(grown.finish(chainManifest('m', undefined, [])))).toEqual(rows(CompactState.of(many)));
  });

  it('refuses a manifest that does not continue the chain, as foldChain does', () => {
    const [b0, b1] = randomChain(4, 1, { size: 200 });
    const state = CompactState.fold(undefined, undefined, b0!);
    expect(() => CompactState.fold(state, 'other', b1!)).toThrow(/does not continue the chain/);
    expect(() => CompactState.fold(undefined, undefined, b1!)).toThrow(/does not continue the chain/);
  });

  it('survives its binary form: facts, links (unicode too), SHA-256 and identity', () => {
    const state = CompactState.fold(undefined, undefined, randomChain(5, 0, { size: 200 })[0]!);
    const identity = { id: 'b0', manifestSha256: 'f'.repeat(64) };
    const decoded = CompactState.decode(state.encode(identity), 'test');
    expect(decoded.identity).toEqual(identity);
    expect(rows(decoded.state)).toEqual(rows(state));
    expect(decoded.state.paths[7]).toBe('svc/volumes/data/f7');
    // A state read back, its paths still as the file's bytes, gives the same bytes again.
    expect(CompactState.decode(state.encode(identity), 'test').state.encode(identity).equals(state.encode(identity))).toBe(true);
  });

  it('finds each entry by its path, read back or not, and no entry for a path it does not hold', () => {
    const names = ['a', 'b/c', 'é ü', 'b/c/d', '日本', 'a/'];
    const state = CompactState.of(names.map((name, i) => chainEntry(`svc/config/c/${name}`, 'file', i)));
    const readBack = CompactState.decode(state.encode({ id: 'b0', manifestSha256: 'x' }), 'test').state;
    for (const s of [state, readBack]) {
      names.forEach((name, i) => expect(s.indexOf(`svc/config/c/${name}`)).toBe(i));
      for (const absent of ['svc/config/c', 'svc/config/c/b/', 'svc/config/c/e ü', 'svc/config/c/日', '']) expect(s.indexOf(absent)).toBe(-1);
    }
    const many = CompactState.decode(CompactState.of(randomChain(6, 0, { size: 5000 })[0]!.entries).encode({ id: 'b0', manifestSha256: 'x' }), 'test').state;
    const paths = [...many.paths];
    const fresh = CompactState.decode(CompactState.of(randomChain(6, 0, { size: 5000 })[0]!.entries).encode({ id: 'b0', manifestSha256: 'x' }), 'test').state;
    expect(paths.every((p, i) => fresh.indexOf(p) === i)).toBe(true);
  });

  it('keeps a SHA-256 only when it is one', () => {
    const [a, b, c] = ['x', 'y', 'z'].map((name, i) => chainEntry(`svc/config/c/${name}`, 'file', i));
    const state = CompactState.of([a!, { ...b!, sha256: `${'0'.repeat(62)}zz` }, { ...c!, sha256: 'abc' }]);
    expect([0, 1, 2].map((i) => state.sha256(i))).toEqual([a!.sha256, undefined, undefined]);
  });

  it('reads its binary form at any byte alignment, and an empty state', () => {
    const state = CompactState.of(randomChain(6, 0, { size: 200 })[0]!.entries.slice(0, 10));
    const data = state.encode({ id: 'b0', manifestSha256: 'x' });
    // 3: copied to memory that starts on a multiple of 8; 8: read in place, 8 bytes into its memory.
    for (const offset of [3, 8]) {
      const shifted = Buffer.alloc(data.length + offset).subarray(offset);
      data.copy(shifted);
      expect(rows(CompactState.decode(shifted, 'test').state)).toEqual(rows(state));
    }
    expect(CompactState.decode(CompactState.of([]).encode({ id: 'e', manifestSha256: 'x' }), 'test').state.length).toBe(0);
  });

  it('refuses a damaged binary form (flipped byte, truncated, not one) with an INTEGRITY error', () => {
    const data = CompactState.of(randomChain(7, 0, { size: 200 })[0]!.entries).encode({ id: 'b0', manifestSha256: 'x' });
    const flipped = Buffer.from(data);
    flipped[Math.floor(data.length / 2)]! ^= 1;
    for (const bad of [flipped, data.subarray(0, data.length - 1), Buffer.from('{"not":"a state"}'), Buffer.alloc(0)]) {
      let error: unknown;
      try {
        CompactState.decode(bad, 'test');
      } catch (e) {
        error = e;
      }
      expect(isBackupError(error, 'INTEGRITY')).toBe(true);
    }
  });
});
