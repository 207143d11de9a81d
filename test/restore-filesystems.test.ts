/**
 * Restoring paths that are not on backup/temp's filesystem: a volume on tmpfs (/dev/shm), staged in a sibling folder
 * beside it; and a volume that is itself a mount point (a bind mount, inside a private mount namespace made with
 * `unshare -m`, so nothing leaks to the host), whose children are swapped one by one. Both exact, both settled
 * after a kill, neither leaving anything behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, json, mcpOn, type CliRun } from './helpers/cli.js';
import { exactSnapshot, expectSameTrees, listAll, treeDifferences, type ExactSnapshot } from './helpers/exact-tree.js';
import { makePlatform } from './helpers/platform.js';
import { backup, restored } from './helpers/restore-fixtures.js';
import { tempDir, writeTree } from './helpers/tree.js';
import type { BackupRecord, RestoreResult } from '../src/index.js';

const DOCS = { 'a.md': 'alpha\n', notes: { 'b.md': 'bravo\n', deep: { 'c.md': 'charlie\n' } }, 'link.md': { symlink: 'a.md' }, empty: {} };

function change(docs: string): void {
  fs.writeFileSync(path.join(docs, 'a.md'), 'alpha, edited\n');
  fs.rmSync(path.join(docs, 'notes/deep'), { recursive: true });
  fs.writeFileSync(path.join(docs, 'new.md'), 'new\n');
  fs.chmodSync(path.join(docs, 'notes'), 0o700);
}

const canUseShm = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(os.tmpdir()).dev;

describe.skipIf(!canUseShm)('a volume on another filesystem (tmpfs)', () => {
  let root: string;
  let shm: string;
  let docs: string;
  let full: BackupRecord;
  let atBackup: ExactSnapshot;

  beforeAll(() => {
    shm = fs.mkdtempSync('/dev/shm/mcp-restore-test-');
    docs = path.join(shm, 'docs');
    writeTree(docs, DOCS);
    root = makePlatform({
      yaml: `services:\n  filesystem:\n    config:  [services/filesystem/config]\n    volumes: [${docs}]\n`,
    });
    atBackup = exactSnapshot({ docs });
    full = backup(root, '--type', 'full');
  });
  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(shm, { recursive: true, force: true });
  });

  it('is staged beside the path, swapped in, and leaves nothing behind', () => {
    change(docs);
    const result = restored(mcpOn(root, ['restore', full.id, '--json']));
    expect(result.services.map((s) => s.status)).toEqual(['restored', 'restored']);
    expectSameTrees(exactSnapshot({ docs }), atBackup);
    expect(fs.readdirSync(shm)).toEqual(['docs']);
    expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
  });

  it('a kill while staged leaves it as it was, and the next command removes the staging folder beside it', async () => {
    change(docs);
    const changed = exactSnapshot({ docs });
    const shmBefore = fs.statSync(shm).mtimeMs;
    const child = spawn(process.execPath, [BIN, 'backup', '--platform', root, 'restore', full.id, '--no-safety-backup'], {
      env: { ...process.env, MCP_BACKUP_TEST_PAUSE_AT: 'staged' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('paused at staged')) resolve();
      });
      child.on('exit', () => reject(new Error(stderr)));
    });
    // The new tree is staged next to the path, on its filesystem.
    const staging = fs.readdirSync(shm).filter((n) => n.startsWith('.mcp-restore-'));
    expect(staging).toHaveLength(1);
    expect(fs.existsSync(path.join(shm, staging[0]!, 'new/notes/deep/c.md'))).toBe(true);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const next = backup(root, '--type', 'full'); // any command that sweeps temp/
    expect(next.id).toBeDefined();
    expectSameTrees(exactSnapshot({ docs }), changed);
    expect(fs.readdirSync(shm)).toEqual(['docs']);
    expect(Math.abs(fs.statSync(shm).mtimeMs - shmBefore)).toBeLessThan(0.01); // put back (to utimes' precision)
    expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
  });
});

const canBindMount = spawnSync('unshare', ['-m', 'sh', '-c', 'd=$(mktemp -d) && mount --bind "$d" "$d" && umount "$d" && rmdir "$d"']).status === 0;

describe.skipIf(!canBindMount)('a volume that is a mount point (bind mount)', () => {
  let base: string;
  let root: string;
  let real: string; // what is mounted at the volume path
  let mountPoint: string;
  let atBackup: ExactSnapshot;
  let full: BackupRecord;

  /** `sh -c` arguments that bind-mount `real` at the volume path in a private mount namespace, then run `mcp backup`. */
  function inNamespace(args: string[]): string[] {
    return ['-m', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', real, mountPoint, process.execPath, BIN, 'backup', '--platform', root, ...args];
  }

  function mounted(args: string[]): CliRun {
    const run = spawnSync('unshare', inNamespace(args), { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
  }

  beforeAll(() => {
    base = tempDir('mcp-restore-mount-');
    real = path.join(base, 'disk/docs');
    writeTree(real, DOCS);
    root = makePlatform({ yaml: `services:\n  filesystem:\n    config:  [services/filesystem/config]\n    volumes: [services/filesystem/docs]\n` });
    mountPoint = path.join(root, 'services/filesystem/docs');
    fs.mkdirSync(mountPoint);
    atBackup = exactSnapshot({ docs: real });
    const run = mounted(['create', '--type', 'full', '--json']);
    expect(run.code, run.stderr).toBe(0);
    full = json<BackupRecord>(run);
    expect(full.files).toBe(6); // 3 docs, the config's 2 files and platform.yaml: the backup saw the mounted content
  });
  afterAll(() => {
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('swaps the children of the mount point and sets the folder itself as recorded', () => {
    change(real);
    fs.chmodSync(real, 0o700);
    const run = mounted(['restore', full.id, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = json<RestoreResult>(run);
    expect(result.safetyBackupId).toBeDefined();
    expectSameTrees(exactSnapshot({ docs: real }), atBackup);
    expect(fs.readdirSync(real).filter((n) => n.startsWith('.mcp-restore-'))).toEqual([]);
    expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
  });

  it('the safety backup holds the mount point as it was, without the restore\'s staging folder', () => {
    const list = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    const safety = list.find((r) => r.origin.kind === 'safety')!;
    const shown = json<{ manifest: { entries: { path: string }[] } }>(mcpOn(root, ['show', safety.id, '--files', '--json']));
    const paths = shown.manifest.entries.map((e) => e.path);
    expect(paths).toContain('filesystem/volumes/docs/new.md');
    expect(paths.filter((p) => p.includes('.mcp-restore-'))).toEqual([]);
  });

  for (const step of ['aside:notes', 'committed:filesystem']) {
    it(`killed at ${step}: the mount point's content is all old or all new once settled`, async () => {
      change(real);
      const changed = exactSnapshot({ docs: real });
      const child = spawn('unshare', inNamespace(['restore', full.id, '--no-safety-backup']), {
        env: { ...process.env, MCP_BACKUP_TEST_PAUSE_AT: step },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes('paused at ')) resolve();
        });
        child.on('exit', () => reject(new Error(stderr)));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const next = mounted(['restore', full.id, '--target', path.join(base, 'scratch'), '--services', 'filesystem']);
      expect(next.code, next.stderr).toBe(0);
      const now = exactSnapshot({ docs: real });
      const isOld = treeDifferences(now, changed).length === 0;
      const isNew = treeDifferences(now, atBackup).length === 0;
      expect({ isOld, isNew, differences: treeDifferences(now, step.startsWith('committed') ? atBackup : changed) }).toMatchObject({
        isOld: !step.startsWith('committed'),
        isNew: step.startsWith('committed'),
      });
      expect(fs.readdirSync(real).filter((n) => n.startsWith('.mcp-restore-'))).toEqual([]);
      expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
      // Put it back for the next case.
      expect(mounted(['restore', full.id, '--no-safety-backup']).code).toBe(0);
    });
  }
});
