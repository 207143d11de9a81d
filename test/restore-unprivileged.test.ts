/**
 * Restore as an ordinary user (the other tests run as whoever runs the suite, often root): read-only folders and
 * files, a read-only root folder (which must stay writable while it is moved into place), a live read-only folder
 * moved aside, and old read-only trees removed. Runs the CLI as `nobody` with setpriv, when the suite runs as root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, publicBin, type CliRun } from './helpers/cli.js';
import { exactSnapshot, expectSameTrees, listAll, type ExactSnapshot } from './helpers/exact-tree.js';
import { tempDir, writeTree } from './helpers/tree.js';
import type { BackupRecord, RestoreResult } from '../src/index.js';

const NOBODY = 65534;
const canDropPrivileges = process.getuid?.() === 0 && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;

function asNobody(root: string, args: string[]): CliRun {
  const run = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, publicBin(), 'backup', '--platform', root, ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', HOME: root },
  });
  return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

describe.skipIf(!canDropPrivileges)('restore as an ordinary user', () => {
  let base: string;
  let root: string;
  let full: BackupRecord;
  let atBackup: ExactSnapshot;
  const paths = () => ({ ro: path.join(root, 'data/readonly'), rw: path.join(root, 'data/normal') });

  beforeAll(() => {
    base = tempDir('mcp-restore-user-');
    fs.chmodSync(base, 0o755);
    root = path.join(base, 'platform');
    writeTree(root, {
      'platform.yaml': 'services:\n  svc:\n    volumes: [data/readonly, data/normal]\n',
      data: {
        readonly: { 'a.txt': { content: 'alpha\n', mode: 0o444 }, sealed: { 'b.txt': { content: 'bravo\n', mode: 0o400 } } },
        normal: { 'c.txt': 'charlie\n', locked: { 'd.txt': 'delta\n' } },
      },
    });
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
    fs.chmodSync(path.join(root, 'data/readonly/sealed'), 0o555);
    fs.chmodSync(path.join(root, 'data/readonly'), 0o555);
    fs.chmodSync(path.join(root, 'data/normal/locked'), 0o500);
    atBackup = exactSnapshot(paths());
    const run = asNobody(root, ['create', '--type', 'full', '--json']);
    expect(run.code, run.stderr).toBe(0);
    full = json<BackupRecord>(run);
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  it('restores read-only folders and files exactly, and removes the old read-only trees', () => {
    // Changes made as root, then handed back to nobody.
    fs.chmodSync(path.join(root, 'data/readonly'), 0o755);
    fs.writeFileSync(path.join(root, 'data/readonly/new.txt'), 'new\n');
    fs.chmodSync(path.join(root, 'data/readonly/sealed'), 0o755);
    fs.rmSync(path.join(root, 'data/readonly/sealed/b.txt'), { force: true });
    fs.chmodSync(path.join(root, 'data/readonly/sealed'), 0o555);
    fs.chmodSync(path.join(root, 'data/readonly'), 0o555);
    fs.chmodSync(path.join(root, 'data/normal/locked'), 0o700);
    fs.writeFileSync(path.join(root, 'data/normal/locked/e.txt'), 'echo\n');
    fs.chmodSync(path.join(root, 'data/normal/locked'), 0o500);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);

    const run = asNobody(root, ['restore', full.id, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = json<RestoreResult>(run);
    expect(result.services[0]!.status).toBe('restored');
    expectSameTrees(exactSnapshot(paths()), atBackup);
    expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
  });

  it('--target works for an ordinary user too', () => {
    const target = path.join(base, 'target');
    fs.mkdirSync(target);
    execFileSync('chown', [`${NOBODY}:${NOBODY}`, target]);
    const run = asNobody(root, ['restore', full.id, '--target', target]);
    expect(run.code, run.stderr).toBe(0);
    expectSameTrees(exactSnapshot({ ro: path.join(target, 'svc/volumes/readonly'), rw: path.join(target, 'svc/volumes/normal') }), atBackup);
  });
});
