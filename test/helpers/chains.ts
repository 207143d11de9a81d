/** Manifests and random backup chains for the tests of the state folds (compact-state, folded-state). */
import { FORMAT_VERSION, MANIFEST_FORMAT, type EntryType, type Manifest, type ManifestEntry } from '../../src/archive/manifest.js';
import { seeded } from './random.js';

/** Entry number `n` of a chain: every field varied with `n`, numbers past 32 bits, a non-ASCII link target. */
export function chainEntry(path: string, type: EntryType, n: number, options: { flagChanged?: boolean } = {}): ManifestEntry {
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
    ...(options.flagChanged && n % 11 === 0 && { changedWhileReading: true }),
  };
}

export function chainManifest(id: string, parent: string | undefined, entries: ManifestEntry[], deleted: string[] = []): Manifest {
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

export interface RandomChainOptions {
  /** Entries of the full backup. */
  size: number;
  /** Mark some changed entries as stored in an ancestor, and some entries as changed while read. */
  storedIn?: boolean;
}

/** A full backup and `steps` incrementals over random changes: modified, new, deleted, and deleted then re-added paths. */
export function randomChain(seed: number, steps: number, options: RandomChainOptions): Manifest[] {
  const random = seeded(seed);
  const types: EntryType[] = ['file', 'file', 'file', 'dir', 'symlink', 'hardlink'];
  let n = 0;
  const next = (path: string) => chainEntry(path, types[Math.floor(random() * types.length)]!, n++, { flagChanged: options.storedIn });
  let live = Array.from({ length: options.size }, (_, i) => `svc/volumes/data/f${i}`);
  const chain = [chainManifest('b0', undefined, live.map(next))];
  for (let step = 1; step <= steps; step++) {
    const changed = live.filter(() => random() < 0.05).map((p) => ({ ...next(p), ...(options.storedIn && random() < 0.3 && { storedIn: `b${step - 1}` }) }));
    const deleted = live.filter(() => random() < 0.03);
    const readded = deleted.filter(() => random() < 0.3).map(next);
    const added = Array.from({ length: 5 }, (_, i) => next(`svc/volumes/data/s${step}-${i}`));
    const entries = [...changed.filter((e) => !deleted.includes(e.path)), ...readded, ...added];
    chain.push(chainManifest(`b${step}`, `b${step - 1}`, entries, deleted));
    live = [...live.filter((p) => !deleted.includes(p) || readded.some((e) => e.path === p)), ...added.map((e) => e.path)];
  }
  return chain;
}
