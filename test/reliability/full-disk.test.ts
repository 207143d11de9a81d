/**
 * Full disk: a backup whose backup directory (platform.yaml `backup.dir`, absolute) is on a 2 MB tmpfs, and a
 * restore whose --target is on one, both filling it mid-way: a clear one-line error, no partial archive listed or
 * left behind, the platform as it was. Needs `mount -t tmpfs` (root in a sandbox that allows it); otherwise the
 * file is skipped and says why.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, mcpOn } from '../helpers/cli.js';
import { makePlatform, STANDARD_YAML } from '../helpers/platform.js';
import { tempDir } from '../helpers/tree.js';
import { cleanError, noise, sourceSnapshot, Tally } from './matrix.js';
import type { BackupRecord } from '../../src/index.js';

const tally = new Tally('full-disk');
const mounts: string[] = [];
const work: string[] = [];

function mountSmall(): string | undefined {
  const dir = tempDir('mcp-rel-tmpfs-');
  work.push(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  mounts.push(dir);
  return dir;
}

const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = mountSmall();
  return probe !== undefined;
})();

afterAll(() => {
  tally.summary();
  for (const dir of mounts) spawnSync('umount', [dir]);
  for (const dir of work) fs.rmSync(dir, { recursive: true, force: true });
});

/** The standard platform plus 4 MB of incompressible data: more than the 2 MB tmpfs holds. */
function platformWith(yaml: string): string {
  const root = makePlatform({ yaml });
  work.push(root);
  fs.writeFileSync(path.join(root, 'services/filesystem/data/blob-1.bin'), noise(1, 2 << 20));
  fs.writeFileSync(path.join(root, 'services/memory/data/blob-2.bin'), noise(2, 2 << 20));
  return root;
}

describe.skipIf(!canMount)('a filesystem that fills up mid-way (2 MB tmpfs)', () => {
  let small: string;
  beforeAll(() => {
    small = mountSmall()!;
  });

  it('a backup onto it fails with a clear error, lists nothing, leaves no archive and the platform as it was (regression: ENOSPC was an "unexpected error", and with --no-compress an unhandled tar sink error crashed the process)', () => {
    const dir = path.join(small, 'backup');
    const root = platformWith(`${STANDARD_YAML}backup:\n  dir: ${dir}\n`);
    const before = sourceSnapshot(root);
    const results: boolean[] = [];
    for (const args of [['--type', 'full'], ['--type', 'full', '--no-compress'], ['--type', 'service', '--services', 'memory']]) {
      const run = mcpOn(root, ['create', ...args]);
      const clear = cleanError(run) && /no space left|disk is full|ENOSPC/i.test(run.stderr);
      expect(clear, `create ${args.join(' ')}: ${run.code} ${run.stderr}`).toBe(true);
      const listed = mcpOn(root, ['list', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(json<BackupRecord[]>(listed)).toEqual([]);
      const archives = fs.existsSync(path.join(dir, 'archives')) ? fs.readdirSync(path.join(dir, 'archives')) : [];
      expect(archives).toEqual([]);
      const temp = fs.existsSync(path.join(dir, 'temp')) ? fs.readdirSync(path.join(dir, 'temp')) : [];
      expect(temp).toEqual([]);
      expect(sourceSnapshot(root)).toEqual(before);
      results.push(clear);
      tally.record('backup onto a full disk refused cleanly', clear, run.stderr.trim());
    }
    // Once space is freed (a smaller scope), a backup there works: the failure left nothing in the way.
    fs.rmSync(path.join(root, 'services/memory/data/blob-2.bin'));
    const ok = mcpOn(root, ['create', '--type', 'service', '--services', 'memory', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(results.every(Boolean)).toBe(true);
  });

  it('a restore onto it (--target) fails with a clear error and leaves the platform and its backups as they were (regression: reported as "archive cannot be read: Premature close")', () => {
    const root = platformWith(STANDARD_YAML);
    const record = json<BackupRecord>(mcpOn(root, ['create', '--type', 'full', '--json']));
    const before = sourceSnapshot(root);
    const index = fs.readFileSync(path.join(root, 'backup/metadata.json'));
    const target = path.join(mountSmall()!, 'restored');
    const run = mcpOn(root, ['restore', record.id, '--target', target, '--yes']);
    const clear = cleanError(run) && /no space left|disk is full|ENOSPC/i.test(run.stderr);
    expect(clear, `${run.code} ${run.stderr}`).toBe(true);
    expect(sourceSnapshot(root)).toEqual(before);
    expect(fs.readFileSync(path.join(root, 'backup/metadata.json')).equals(index)).toBe(true);
    const temp = path.join(root, 'backup/temp');
    expect(fs.existsSync(temp) ? fs.readdirSync(temp) : []).toEqual([]);
    expect(mcpOn(root, ['verify', record.id]).code).toBe(0);
    tally.record('restore onto a full disk refused cleanly', clear, run.stderr.trim());
    // What a failed --target restore leaves in the target: reported for the figures (a target is a scratch folder).
    const left = fs.existsSync(target) ? execFileSync('find', [target, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length : 0;
    tally.record(`restore target left with ${left} files`, true);
  });
});

it.skipIf(canMount)('full-disk cases skipped: mount -t tmpfs is not allowed here (needs root in a sandbox that permits mounts)', () => {
  expect(canMount).toBe(false);
});
