import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chainEntry } from '../../test/helpers/chains.js';
import { tempDir } from '../../test/helpers/tree.js';
import { CompactState } from './compact-state.js';
import type { EntryType } from './manifest.js';
import { CHUNK_ENTRIES, StateSpill } from './state-spill.js';

const identity = { id: 'full-1', manifestSha256: 'ab'.repeat(32) };
const TYPES: EntryType[] = ['file', 'dir', 'symlink', 'file', 'hardlink', 'file'];

/** Entries of every type, non-ASCII paths, a file without a SHA-256 now and then. */
function entries(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const entry = chainEntry(`svc/volumes/data/d${i % 17}/é-${i}`, TYPES[i % TYPES.length]!, i);
    if (i % 13 === 0) delete entry.sha256;
    return entry;
  });
}

describe('StateSpill', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const count of [0, 1, CHUNK_ENTRIES - 1, CHUNK_ENTRIES, CHUNK_ENTRIES + 1, 2 * CHUNK_ENTRIES + 77]) {
    it(`writes the same state file as the state held in memory, byte for byte: ${count} entries`, () => {
      const dir = tempDir('mcp-state-spill-');
      dirs.push(dir);
      const list = entries(count);
      const spill = new StateSpill(path.join(dir, 'state'));
      for (const entry of list) spill.add(entry);
      const written = Buffer.concat(Array.from(spill.encodedPieces(identity), (piece) => Buffer.from(piece)));
      expect(written.equals(CompactState.of(list).encode(identity))).toBe(true);
      // And it reads back as those entries.
      const { state } = CompactState.decode(written, 'spilled state');
      expect(state.paths).toEqual(list.map((e) => e.path));
      if (count > 0) expect(state.sha256(count - 1)).toBe(list[count - 1]!.sha256);
      // Its files are private, and go with it.
      expect(fs.statSync(path.join(dir, 'state')).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dir, 'state', 'paths')).mode & 0o777).toBe(0o600);
      spill.dispose();
      expect(fs.existsSync(path.join(dir, 'state'))).toBe(false);
    });
  }
});
