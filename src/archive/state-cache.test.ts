import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupRecord } from '../metadata/record.js';
import { CompactState } from './compact-state.js';
import type { ManifestEntry } from './manifest.js';
import { StateCache } from './state-cache.js';

const entry = {
  path: 'svc/config/c/a.json',
  type: 'file' as const,
  mode: 0o600,
  uid: 1,
  gid: 2,
  mtimeMs: 1.5,
  size: 3,
  dev: 4,
  ino: 5,
  ctimeMs: 6.5,
};

function record(id: string, manifestSha256 = 'a'.repeat(64)): BackupRecord {
  return { id, manifestSha256 } as BackupRecord;
}

function cacheIn(): StateCache {
  return new StateCache(fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-state-cache-')));
}

describe('StateCache', () => {
  it('gives back what was put, in a private folder', async () => {
    const cache = cacheIn();
    await cache.put(record('b1'), CompactState.of([entry]));
    const state = await cache.get(record('b1'));
    expect(state?.paths).toEqual([entry.path]);
    expect(state?.facts(0)).toMatchObject({ size: 3, ino: 5, mtimeMs: 1.5 });
    expect(fs.statSync(cache.dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(cache.dir, 'b1.state')).mode & 0o777).toBe(0o600);
  });

  it('writes a state far larger than the pieces it is written in, and reads it back the same', async () => {
    const cache = cacheIn();
    const entries: ManifestEntry[] = Array.from({ length: 5000 }, (_, i) => ({
      ...entry,
      path: `svc/volumes/v/folder-${i % 50}/fïle-${i}.json`,
      ino: i,
      sha256: i.toString(16).padStart(64, '0'),
    }));
    // Longer than a piece (64 KiB) alone, a path and a link target both.
    entries.push({ ...entry, path: `svc/volumes/v/${'p'.repeat(70_000)}`, ino: 5000, sha256: 'f'.repeat(64) });
    entries.push({ ...entry, type: 'symlink', path: 'svc/volumes/v/link', link: 't'.repeat(70_000), ino: 5001, sha256: 'e'.repeat(64) });
    const state = CompactState.of(entries);
    await cache.put(record('b1'), state);
    const read = (await cache.get(record('b1')))!;
    expect(read.paths).toEqual(state.paths);
    for (let i = 0; i < state.length; i++) {
      expect(read.facts(i)).toEqual(state.facts(i));
      expect(read.sha256(i)).toBe(state.sha256(i));
    }
    expect(fs.readdirSync(cache.dir)).toEqual(['b1.state']);
  });

  it('ignores a state that is missing, damaged, or of another manifest than the record names', async () => {
    const cache = cacheIn();
    expect(await cache.get(record('b1'))).toBeUndefined();
    await cache.put(record('b1'), CompactState.of([entry]));
    expect(await cache.get(record('b1', 'b'.repeat(64)))).toBeUndefined();
    const file = path.join(cache.dir, 'b1.state');
    const data = fs.readFileSync(file);
    data[data.length - 40]! ^= 0xff;
    fs.writeFileSync(file, data);
    expect(await cache.get(record('b1'))).toBeUndefined();
    // A state copied under another backup's name is not that backup's.
    await cache.put(record('b2'), CompactState.of([entry]));
    fs.copyFileSync(path.join(cache.dir, 'b2.state'), path.join(cache.dir, 'b3.state'));
    expect(await cache.get(record('b3'))).toBeUndefined();
  });

  it('prunes every state but those kept, and leftovers of killed writes', async () => {
    const cache = cacheIn();
    for (const id of ['b1', 'b2', 'b3']) await cache.put(record(id), CompactState.of([entry]));
    fs.writeFileSync(path.join(cache.dir, 'b4.state.1234'), 'half written');
    await cache.prune([record('b2')]);
    expect(fs.readdirSync(cache.dir)).toEqual(['b2.state']);
  });
});
