/**
 * Corruption: single flipped bytes at seeded offsets, truncations and deleted archives, for a plain (.tar), a
 * compressed (.tar.gz) and an encrypted (.tar.gz.age) archive, and for metadata.json. `verify` reports every one,
 * `restore` refuses before writing anything, and a corrupt metadata.json is never silently replaced: commands
 * refuse with an error that points to `index rebuild`, and the file stays as it was.
 * (test/hostile-verify.test.ts and test/hostile-archives.test.ts cover crafted archives whose checksums are right.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, mcpOn } from '../helpers/cli.js';
import { makePlatform } from '../helpers/platform.js';
import { tempDir } from '../helpers/tree.js';
import { cleanError, keygen, seeded, sourceSnapshot, Tally } from './matrix.js';
import type { BackupRecord } from '../../src/index.js';

const SEED = 0xc0441;
const FLIPS = 10;
const tally = new Tally('corruption');
const work: string[] = [];
let root: string;
let keys: { identity: string; recipient: string };
const archives: Record<string, BackupRecord> = {};

beforeAll(() => {
  root = makePlatform();
  const keyDir = tempDir('mcp-rel-keys-');
  work.push(root, keyDir);
  keys = keygen(keyDir);
  const make = (kind: string, args: string[]) => {
    const run = mcpOn(root, ['create', '--type', 'full', '--json', ...args]);
    expect(run.code, run.stderr).toBe(0);
    archives[kind] = json<BackupRecord>(run);
  };
  make('plain', ['--no-compress']);
  make('compressed', []);
  make('encrypted', ['--encrypt', '--recipient', keys.recipient]);
}, 60_000);

afterAll(() => {
  tally.summary();
  for (const dir of work) fs.rmSync(dir, { recursive: true, force: true });
});

type Corruption = { label: string; apply: (file: string) => void };

/** Flips at seeded offsets (always including the first and last byte), truncations, and deletion. */
function corruptions(size: number, next: () => number): Corruption[] {
  const offsets = [0, size - 1, ...Array.from({ length: FLIPS - 2 }, () => Math.floor(next() * size))];
  const flips = offsets.map((offset) => ({
    label: `byte ${offset} of ${size} flipped`,
    apply: (file: string) => {
      const fd = fs.openSync(file, 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, offset);
      b[0] = b[0]! ^ 0xff;
      fs.writeSync(fd, b, 0, 1, offset);
      fs.closeSync(fd);
    },
  }));
  const cuts = [0, Math.floor(size / 2), Math.floor(next() * size), size - 1].map((length) => ({
    label: `truncated to ${length} of ${size} bytes`,
    apply: (file: string) => fs.truncateSync(file, length),
  }));
  return [...flips, ...cuts, { label: 'deleted', apply: (file: string) => fs.rmSync(file) }];
}

describe('corrupt archives', () => {
  for (const kind of ['plain', 'compressed', 'encrypted']) {
    it(`${kind}: verify reports every corruption and restore refuses before writing`, () => {
      const record = archives[kind]!;
      const file = path.join(root, 'backup/archives', record.archive);
      const original = fs.readFileSync(file);
      const identity = kind === 'encrypted' ? ['--identity', keys.identity] : [];
      const misses: string[] = [];
      corruptions(original.length, seeded(SEED + original.length)).forEach((corruption, i) => {
        corruption.apply(file);
        try {
          const verify = mcpOn(root, ['verify', record.id, ...identity]);
          let caught = verify.code === 1 && verify.stderr.includes(record.id) && !/\n\s+at /.test(verify.stderr);
          // Every third case also tries the restore: it must refuse and write nothing, in place or into a target.
          if (i % 3 === 0) {
            const before = sourceSnapshot(root);
            const target = path.join(tempDir('mcp-rel-target-'), 'out');
            work.push(path.dirname(target));
            const elsewhere = mcpOn(root, ['restore', record.id, '--target', target, '--yes', ...identity]);
            const inPlace = mcpOn(root, ['restore', record.id, '--yes', '--no-safety-backup', ...identity]);
            const wroteNothing = !fs.existsSync(target) || fs.readdirSync(target).length === 0;
            caught &&= elsewhere.code === 1 && inPlace.code === 1 && wroteNothing && cleanError(inPlace);
            expect(sourceSnapshot(root), `${kind}, ${corruption.label}: restore changed the platform`).toEqual(before);
            tally.record('restore refused', elsewhere.code === 1 && inPlace.code === 1 && wroteNothing);
          }
          if (!caught) misses.push(`${corruption.label}: verify ${verify.code} ${verify.stderr}`);
          tally.record(`${kind} archive`, caught);
        } finally {
          fs.writeFileSync(file, original, { mode: 0o600 });
        }
      });
      expect(misses).toEqual([]);
      expect(mcpOn(root, ['verify', record.id, ...identity]).code).toBe(0);
    });
  }
});

describe('corrupt metadata.json', () => {
  it('truncated or syntactically broken: every command refuses, names index rebuild, and leaves the file as it was', () => {
    const file = path.join(root, 'backup/metadata.json');
    const original = fs.readFileSync(file);
    const text = original.toString('utf8');
    const next = seeded(SEED);
    const structural = [...text.matchAll(/[{}[\]:,"]/g)].map((m) => m.index);
    const cases: Corruption[] = [
      // (The file ends with a newline: cutting only that is no corruption, so the last cut takes the closing brace too.)
      ...[1, Math.floor(original.length / 2), text.trimEnd().length - 1, Math.floor(next() * (original.length - 2))].map((length) => ({
        label: `truncated to ${length}`,
        apply: (f: string) => fs.truncateSync(f, length),
      })),
      ...Array.from({ length: 6 }, () => structural[Math.floor(next() * structural.length)]!).map((offset) => ({
        label: `byte ${offset} ('${text[offset]}') replaced`,
        apply: (f: string) => {
          const broken = Buffer.from(original);
          broken[offset] = 0x23; // '#'
          fs.writeFileSync(f, broken);
        },
      })),
      { label: 'emptied', apply: (f: string) => fs.writeFileSync(f, '') },
    ];
    const misses: string[] = [];
    for (const corruption of cases) {
      corruption.apply(file);
      const corrupt = fs.readFileSync(file);
      try {
        const runs = [
          mcpOn(root, ['list']),
          mcpOn(root, ['create', '--type', 'full']),
          mcpOn(root, ['verify', '--all']),
          mcpOn(root, ['cleanup', '--keep', '1']),
        ];
        const refused = runs.every((run) => run.code === 1 && run.stderr.includes('index rebuild') && cleanError(run));
        const kept = fs.readFileSync(file).equals(corrupt);
        if (!refused || !kept) misses.push(`${corruption.label}: ${runs.map((r) => `${r.code} ${r.stderr.trim()}`).join(' | ')}${kept ? '' : ' (file replaced)'}`);
        tally.record('metadata.json syntax', refused && kept);
      } finally {
        fs.writeFileSync(file, original);
      }
    }
    expect(misses).toEqual([]);
  });

  it('a record whose recorded SHA-256 was altered is reported by verify', () => {
    const file = path.join(root, 'backup/metadata.json');
    const original = fs.readFileSync(file, 'utf8');
    const misses: string[] = [];
    for (const record of Object.values(archives)) {
      const index = JSON.parse(original) as { backups: { id: string; sha256: string }[] };
      const target = index.backups.find((r) => r.id === record.id)!;
      target.sha256 = `${target.sha256[0] === '0' ? '1' : '0'}${target.sha256.slice(1)}`;
      fs.writeFileSync(file, JSON.stringify(index));
      try {
        const verify = mcpOn(root, ['verify', record.id, '--identity', keys.identity]);
        const caught = verify.code === 1 && verify.stderr.includes(record.id);
        if (!caught) misses.push(`${record.id}: ${verify.code} ${verify.stderr}`);
        tally.record('metadata.json checksum field', caught);
      } finally {
        fs.writeFileSync(file, original);
      }
    }
    expect(misses).toEqual([]);
  });

  it('the figures: every corruption caught', () => {
    const categories = ['plain archive', 'compressed archive', 'encrypted archive', 'metadata.json syntax', 'metadata.json checksum field'];
    const total = categories.reduce((n, c) => n + tally.count(c).total, 0);
    const caught = categories.reduce((n, c) => n + tally.count(c).passed, 0);
    console.log(`[reliability:corruption] all: ${caught}/${total} corruptions caught`);
    expect(caught).toBe(total);
    expect(total).toBeGreaterThanOrEqual(50);
  });
});
