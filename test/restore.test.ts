/**
 * End to end: `mcp backup restore` on real files. Back up, change everything a user can change, then dry-run,
 * restore in place (byte-exact with modes, mtimes, symlinks, hard links, deletions; git fsck), undo with the safety
 * backup, restore one service, restore into --target, and refuse a tampered archive with nothing changed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, json, mcpOn } from './helpers/cli.js';
import { exactSnapshot, expectSameTrees, listAll, type ExactSnapshot } from './helpers/exact-tree.js';
import { makePlatform } from './helpers/platform.js';
import { backup, expectNoLeftovers, gitLog, isExcluded, mutate, restored, restoredPaths } from './helpers/restore-fixtures.js';
import { tempDir } from './helpers/tree.js';
import type { BackupRecord, ShowResult } from '../src/index.js';

const notExcluded = { skip: isExcluded };

function without(snapshot: ExactSnapshot, drop: (key: string) => boolean): ExactSnapshot {
  return Object.fromEntries(Object.entries(snapshot).filter(([key]) => !drop(key)));
}

function withoutExcluded(snapshot: ExactSnapshot): ExactSnapshot {
  return without(snapshot, isExcluded);
}

function only(snapshot: ExactSnapshot, labels: string[]): ExactSnapshot {
  return Object.fromEntries(Object.entries(snapshot).filter(([key]) => labels.some((l) => key === l || key.startsWith(`${l}/`))));
}

describe('restore in place', () => {
  let root: string;
  let full: BackupRecord;
  let atBackup: ExactSnapshot;
  let changed: ExactSnapshot;
  const repo = () => path.join(root, 'services/git/repos/website');

  beforeAll(() => {
    root = makePlatform();
    atBackup = exactSnapshot(restoredPaths(root));
    full = backup(root, '--type', 'full');
    mutate(root);
    changed = exactSnapshot(restoredPaths(root));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  // `script` gives the CLI a terminal, so it asks; the answer comes through the terminal as typed.
  it.skipIf(spawnSync('script', ['--version']).status !== 0)('at a terminal, asks before replacing, and an answer of no changes nothing', () => {
    // The backup folder's temp/ holds the command's own workspace for a moment; everything else stays as it was.
    const state = () => without(exactSnapshot({ root }), (key) => key === 'root/backup/temp');
    const before = state();
    const run = spawnSync('script', ['-qec', `'${BIN}' backup --platform '${root}' restore ${full.id}`, '/dev/null'], { input: 'n\n', encoding: 'utf8' });
    expect(run.stdout).toContain(`from ${full.id} in place, replacing what is there (after a safety backup)? [y/N]`);
    expect(run.stdout).toContain('mcp backup: restore cancelled: nothing was changed');
    expect(run.status).toBe(1);
    expect(state()).toEqual(before);
  });

  it('--dry-run names every change and writes nothing at all', () => {
    const before = exactSnapshot({ root });
    const run = mcpOn(root, ['restore', full.id, '--dry-run', '--json']);
    expect(run.stderr).toBe('');
    const result = restored(run);
    expect(exactSnapshot({ root })).toEqual(before);
    expect(result.dryRun).toBe(true);

    const plan = Object.fromEntries(result.plan.services.map((s) => [s.service, s]));
    const paths = (changes: { path: string }[]) => changes.map((c) => c.path);
    expect(paths(plan.filesystem!.overwrite)).toEqual(
      expect.arrayContaining([
        'filesystem/volumes/data/README.md',
        'filesystem/volumes/data/notes/run.sh',
        'filesystem/volumes/data/latest.md',
        'filesystem/volumes/data/empty-folder',
        'filesystem/volumes/data/hardlink-to-a.txt',
      ]),
    );
    expect(plan.filesystem!.overwrite.find((c) => c.path.endsWith('run.sh'))!.reason).toBe('mode (700 -> 750)');
    expect(plan.filesystem!.overwrite.find((c) => c.path.endsWith('latest.md'))!.reason).toBe('link');
    expect(paths(plan.filesystem!.delete).sort()).toEqual([
      'filesystem/volumes/data/new.txt',
      'filesystem/volumes/data/newdir',
      'filesystem/volumes/data/newdir/deeper',
      'filesystem/volumes/data/newdir/deeper/x.txt',
    ]);
    // Excluded paths (cache/junk.bin, draft.tmp, other.tmp) are neither deleted nor restored: they are kept.
    expect(plan.filesystem!.kept).toBe(3);
    expect(paths(plan.memory!.create)).toEqual(['memory/volumes/data/memory.json']);
    expect(plan.memory!.bytesToWrite).toBe(31);
    expect(paths(plan.git!.overwrite)).toEqual(expect.arrayContaining(['git/config/config.json', 'git/volumes/repos/website/.git/refs/heads/main']));
    expect(paths(plan.git!.delete)).toContain('git/volumes/repos/website/after.txt');
    expect(paths(plan._platform!.overwrite)).toEqual(['_platform/platform.yaml']);
    expect(result.plan.services.map((s) => s.service)).toEqual(['filesystem', 'git', 'memory', '_platform']);

    const human = mcpOn(root, ['restore', full.id.slice(0, 18), '--dry-run']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('overwrite  services/filesystem/data/README.md (content)');
    expect(human.stdout).toContain('delete     services/filesystem/data/new.txt (file)');
    expect(human.stdout).toContain('create     services/memory/data/memory.json (file, 31 B)');
    expect(human.stdout).toContain('Dry run: nothing was changed.');
    expect(exactSnapshot({ root })).toEqual(before);
  });

  it('restores every path exactly, keeps excluded files, and takes a safety backup first', () => {
    const result = restored(mcpOn(root, ['restore', full.id, '--json']));
    expect(result.services.map((s) => [s.service, s.status])).toEqual([
      ['filesystem', 'restored'],
      ['git', 'restored'],
      ['memory', 'restored'],
      ['_platform', 'restored'],
    ]);
    expectSameTrees(exactSnapshot(restoredPaths(root), notExcluded), withoutExcluded(atBackup));
    // What the backup never covered is as it was just before the restore.
    for (const key of ['fs-data/cache/junk.bin', 'fs-data/draft.tmp', 'fs-data/other.tmp']) {
      expect(exactSnapshot(restoredPaths(root))[key]).toEqual(changed[key]);
    }
    // The hard link is a hard link again.
    const a = fs.statSync(path.join(root, 'services/filesystem/data/notes/a.txt'));
    expect(fs.statSync(path.join(root, 'services/filesystem/data/hardlink-to-a.txt')).ino).toBe(a.ino);
    execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: repo() });
    expect(gitLog(repo())).toEqual(['commit 3', 'commit 2', 'commit 1']);
    expect(execFileSync('git', ['status', '--porcelain'], { cwd: repo(), encoding: 'utf8' })).toBe('');
    expectNoLeftovers(root);

    expect(result.safetyBackupId).toBeDefined();
    const safety = json<ShowResult>(mcpOn(root, ['show', result.safetyBackupId!, '--json'])).record;
    expect(safety.origin).toEqual({ kind: 'safety', restoreOf: full.id });
    expect(safety.type).toBe('full');
    expect(result.deleted).toBe(result.plan.totals.delete);
    expect(result.services.find((s) => s.service === 'filesystem')!.deleted).toBe(4);
  });

  it('prints the plan, the safety backup id and a summary for people', () => {
    const run = mcpOn(root, ['restore', full.id]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/SERVICE\s+CREATE\s+OVERWRITE\s+DELETE\s+UNCHANGED\s+KEPT\s+TO WRITE/);
    expect(run.stdout).toMatch(/safety backup: \d{8}T\d{6}Z-full-[0-9a-f]{4} \(to undo: mcp backup restore /);
    expect(run.stdout).toMatch(/written:\s+\d+ files/);
    expectSameTrees(exactSnapshot(restoredPaths(root), notExcluded), withoutExcluded(atBackup));
  });

  it('undoes a restore by restoring its safety backup', () => {
    // Back to the changed state first (the safety backup of the first restore holds it).
    const list = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    const firstSafety = list.filter((r) => r.origin.kind === 'safety').sort((x, y) => x.createdAt.localeCompare(y.createdAt) || x.id.localeCompare(y.id))[0]!;
    restored(mcpOn(root, ['restore', firstSafety.id, '--json', '--no-safety-backup']));
    expectSameTrees(exactSnapshot(restoredPaths(root)), changed);
    expect(gitLog(repo())[0]).toBe('after the backup');
    execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: repo() });
    expectNoLeftovers(root);
  });

  it('--services restores only those services and never touches the others', () => {
    const result = restored(mcpOn(root, ['restore', full.id, '--services', 'memory', '--no-safety-backup', '--json']));
    expect(result.services.map((s) => s.service)).toEqual(['memory']);
    expect(result.safetyBackupId).toBeUndefined();
    const now = exactSnapshot(restoredPaths(root));
    expectSameTrees(only(now, ['mem-config', 'mem-data']), only(atBackup, ['mem-config', 'mem-data']));
    expectSameTrees(only(now, ['fs-config', 'fs-data', 'git-config', 'git-repos', 'platform.yaml']), only(changed, ['fs-config', 'fs-data', 'git-config', 'git-repos', 'platform.yaml']));
  });

  /** What a --target restore puts in `target`, keyed as `restoredPaths` keys the live paths. */
  const targetSnapshot = (target: string) =>
    exactSnapshot({
      'fs-config': path.join(target, 'filesystem/config/config'),
      'fs-data': path.join(target, 'filesystem/volumes/data'),
      'git-config': path.join(target, 'git/config/config.json'),
      'git-repos': path.join(target, 'git/volumes/repos'),
      'mem-config': path.join(target, 'memory/config/config'),
      'mem-data': path.join(target, 'memory/volumes/data'),
      'platform.yaml': path.join(target, '_platform/platform.yaml'),
    });

  it('--target DIR restores into DIR/<service>/<part>/<name> and leaves the live platform alone', () => {
    const target = tempDir('mcp-restore-target-');
    const live = exactSnapshot({ services: path.join(root, 'services'), 'platform.yaml': path.join(root, 'platform.yaml') });
    const result = restored(mcpOn(root, ['restore', full.id, '--target', target, '--json']));
    expect(result.plan.inPlace).toBe(false);
    expect(result.safetyBackupId).toBeUndefined();
    expect(exactSnapshot({ services: path.join(root, 'services'), 'platform.yaml': path.join(root, 'platform.yaml') })).toEqual(live);
    expectSameTrees(targetSnapshot(target), withoutExcluded(atBackup));
    execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: path.join(target, 'git/volumes/repos/website') });
    // Parent folders it created for the layout are private.
    expect(fs.statSync(path.join(target, 'filesystem/volumes')).mode & 0o777).toBe(0o700);
    // A second restore into the same target replaces what is there, exactly.
    fs.writeFileSync(path.join(target, 'filesystem/volumes/data/stray.txt'), 'stray');
    restored(mcpOn(root, ['restore', full.id, '--target', target, '--services', 'filesystem', '--json']));
    expect(fs.existsSync(path.join(target, 'filesystem/volumes/data/stray.txt'))).toBe(false);
    expectNoLeftovers(root);
    expect(listAll(target).filter((p) => p.includes('.mcp-restore-'))).toEqual([]);
    fs.rmSync(target, { recursive: true, force: true });
  });

  it('gives every file its recorded mode and owner whatever the umask, and whatever group new files get', () => {
    // Files are created with their recorded mode when the umask lets them keep it, and with the owner a new file
    // gets when it is the recorded one; anything else is set after writing.
    const temp = path.join(root, 'backup/temp');
    const { mode, gid } = fs.statSync(temp);
    const asRoot = process.getuid?.() === 0;
    try {
      for (const umask of ['000', '077', '022']) {
        if (umask === '022' && asRoot) {
          // New files under a set-group-ID folder take its group, not the one recorded.
          fs.chownSync(temp, 0, 1);
          fs.chmodSync(temp, 0o2700);
        }
        const target = tempDir('mcp-restore-umask-');
        const run = spawnSync('sh', ['-c', `umask ${umask} && exec "${BIN}" backup --platform "${root}" restore ${full.id} --target "${target}" --json`], {
          encoding: 'utf8',
        });
        expect(run.status, run.stderr).toBe(0);
        expectSameTrees(targetSnapshot(target), withoutExcluded(atBackup));
        fs.rmSync(target, { recursive: true, force: true });
      }
    } finally {
      fs.chmodSync(temp, mode & 0o7777);
      if (asRoot) fs.chownSync(temp, 0, gid);
    }
    expectNoLeftovers(root);
  });

  it('refuses --target paths that overlap the live platform', () => {
    const run = mcpOn(root, ['restore', full.id, '--target', path.join(root, 'services/..'), '--dry-run']);
    expect(run.code).toBe(0); // <root>/filesystem/... does not overlap anything live.
    const bad = mcpOn(root, ['restore', full.id, '--target', path.join(root, 'services/git/repos'), '--services', 'git', '--dry-run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/overlaps the live platform path/);
  });

  it('refuses a tampered archive before changing anything', () => {
    const archive = path.join(root, 'backup/archives', full.archive);
    const original = fs.readFileSync(archive);
    const tampered = Buffer.from(original);
    const middle = Math.floor(tampered.length / 2);
    tampered[middle] = tampered[middle]! ^ 0xff;
    fs.writeFileSync(archive, tampered);
    try {
      const before = exactSnapshot({ services: path.join(root, 'services'), 'platform.yaml': path.join(root, 'platform.yaml') });
      const records = fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8');
      const run = mcpOn(root, ['restore', full.id]);
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/does not match its SHA-256 in the index.*nothing was restored/);
      expect(exactSnapshot({ services: path.join(root, 'services'), 'platform.yaml': path.join(root, 'platform.yaml') })).toEqual(before);
      // No safety backup was taken either: integrity comes first.
      expect(fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8')).toBe(records);
      expectNoLeftovers(root);
    } finally {
      fs.writeFileSync(archive, original);
    }
  });

  it('names an unknown service, and an unknown id', () => {
    const unknown = mcpOn(root, ['restore', full.id, '--services', 'nope', '--dry-run']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/does not hold service nope: it holds filesystem, git, memory/);
    const noId = mcpOn(root, ['restore', 'nope']);
    expect(noId.code).toBe(1);
    expect(noId.stderr).toMatch(/no backup with id nope/);
  });
});

describe('restore of an incremental chain', () => {
  let root: string;

  beforeAll(() => {
    root = makePlatform();
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reproduces the exact state at each backup of the chain', () => {
    const states: { record: BackupRecord; snapshot: ExactSnapshot }[] = [];
    const take = (...args: string[]) => {
      const snapshot = exactSnapshot(restoredPaths(root), notExcluded);
      states.push({ record: backup(root, ...args), snapshot });
    };
    take('--type', 'full');
    mutate(root);
    take('--type', 'incremental');
    const data = path.join(root, 'services/filesystem/data');
    fs.rmSync(path.join(data, 'newdir'), { recursive: true });
    fs.writeFileSync(path.join(data, 'README.md'), '# Documents, edited twice\n');
    fs.writeFileSync(path.join(data, 'notes/b.txt'), 'bravo\n');
    fs.writeFileSync(path.join(root, 'services/memory/data/memory.json'), '{"back": true}\n');
    take('--type', 'incremental');
    expect(states[2]!.record.parent).toBe(states[1]!.record.id);

    for (const { record, snapshot } of [states[1]!, states[0]!, states[2]!]) {
      const result = restored(mcpOn(root, ['restore', record.id, '--no-safety-backup', '--json']));
      expect(result.plan.chain).toEqual(states.slice(0, states.findIndex((s) => s.record.id === record.id) + 1).map((s) => s.record.id));
      expectSameTrees(exactSnapshot(restoredPaths(root), notExcluded), snapshot);
      execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: path.join(root, 'services/git/repos/website') });
    }
    expectNoLeftovers(root);
  });
});

describe('restore hooks', () => {
  const yaml = (memoryPre: string) => `name: hooked
services:
  filesystem:
    config:  [services/filesystem/config]
    volumes: [services/filesystem/data]
    exclude: ["**/*.tmp", "cache/**"]
    hooks:
      pre_restore:  "echo pre $MCP_BACKUP_SERVICE $MCP_BACKUP_ID >> hooks.log"
      post_restore: "echo post $MCP_BACKUP_SERVICE >> hooks.log"
  git:
    config:  [services/git/config.json]
    volumes: [services/git/repos]
  memory:
    config:  [services/memory/config]
    volumes: [services/memory/data]
    hooks:
      pre_restore:  "${memoryPre}"
      post_restore: "echo post $MCP_BACKUP_SERVICE >> hooks.log"
`;

  it('run around each service; a failing pre_restore leaves its service as it was, and post_restore still runs', () => {
    const root = makePlatform({ yaml: yaml('echo pre memory >> hooks.log; echo memory will not stop >&2; exit 3') });
    try {
      const atBackup = exactSnapshot(restoredPaths(root), notExcluded);
      const full = backup(root, '--type', 'full');
      mutate(root);
      // mutate() edits platform.yaml; keep the hooks as they are for this test.
      fs.writeFileSync(path.join(root, 'platform.yaml'), yaml('echo pre memory >> hooks.log; echo memory will not stop >&2; exit 3'));
      const changed = exactSnapshot(restoredPaths(root), notExcluded);
      const run = mcpOn(root, ['restore', full.id, '--no-safety-backup']);
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/pre_restore hook of service memory exited with 3: memory will not stop/);
      expect(run.stderr).toMatch(/restored: filesystem, git, platform\.yaml; not restored: memory/);
      expect(fs.readFileSync(path.join(root, 'hooks.log'), 'utf8')).toBe(`pre filesystem ${full.id}\npost filesystem\npre memory\npost memory\n`);
      const now = exactSnapshot(restoredPaths(root), notExcluded);
      expectSameTrees(only(now, ['mem-config', 'mem-data']), only(changed, ['mem-config', 'mem-data']));
      expectSameTrees(only(now, ['fs-config', 'fs-data', 'git-config', 'git-repos']), only(atBackup, ['fs-config', 'fs-data', 'git-config', 'git-repos']));
      expectNoLeftovers(root);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('do not run with --target or --dry-run', () => {
    const root = makePlatform({ yaml: yaml('echo pre memory >> hooks.log') });
    const target = tempDir('mcp-restore-target-');
    try {
      const full = backup(root, '--type', 'full');
      restored(mcpOn(root, ['restore', full.id, '--dry-run', '--json']));
      restored(mcpOn(root, ['restore', full.id, '--target', target, '--json']));
      expect(fs.existsSync(path.join(root, 'hooks.log'))).toBe(false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(target, { recursive: true, force: true });
    }
  });
});

describe('restore on a terminal', () => {
  const hasScript = (() => {
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasScript)('shows the plan and asks; "n" changes nothing, "y" restores', () => {
    const root = makePlatform();
    try {
      const full = backup(root, '--type', 'full');
      mutate(root);
      const changed = exactSnapshot(restoredPaths(root));
      const bin = path.resolve('bin/mcp.js');
      const onTerminal = (answer: string) =>
        execFileSync('script', ['-qec', `${process.execPath} ${bin} backup --platform ${root} restore ${full.id} --no-progress; echo "exit=$?"`, '/dev/null'], {
          input: `${answer}\n`,
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1' },
        });
      const no = onTerminal('n');
      expect(no).toMatch(/Restore filesystem, git, memory, platform\.yaml from .* in place, replacing what is there \(after a safety backup\)\? \[y\/N\]/);
      expect(no).toContain('restore cancelled: nothing was changed');
      expect(no).toContain('exit=1');
      expectSameTrees(exactSnapshot(restoredPaths(root)), changed);
      expect(json<BackupRecord[]>(mcpOn(root, ['list', '--json']))).toHaveLength(1);

      const yes = onTerminal('y');
      expect(yes).toContain('exit=0');
      expect(yes).toContain('Restored backup');
      expect(fs.readFileSync(path.join(root, 'services/filesystem/data/README.md'), 'utf8')).toBe('# Documents\n');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
