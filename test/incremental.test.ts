/**
 * Incremental backups: only what changed is stored, deletions are recorded, the chain is kept and checked, and
 * each archive is still a standard tar.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { json, mcpOn, type CliRun } from './helpers/cli.js';
import { git, makePlatform } from './helpers/platform.js';
import type { BackupRecord, Manifest, ShowResult } from '../src/index.js';

function backup(root: string, ...args: string[]): BackupRecord {
  const run: CliRun = mcpOn(root, ['create', '--json', ...args]);
  expect(run.stderr, run.stderr).toBe('');
  expect(run.code).toBe(0);
  return json<BackupRecord>(run);
}

function manifestOf(root: string, record: BackupRecord): Manifest {
  return JSON.parse(gunzipSync(fs.readFileSync(path.join(root, 'backup/archives', record.manifest))).toString()) as Manifest;
}

function tarList(root: string, record: BackupRecord): string[] {
  return execFileSync('tar', ['-tzf', path.join(root, 'backup/archives', record.archive)], { encoding: 'utf8' }).trim().split('\n');
}

describe('incremental backups', () => {
  it('refuse to start without a base, saying to run a full backup first', () => {
    const root = makePlatform();
    const run = mcpOn(root, ['create', '--type', 'incremental']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('mcp backup: no backup of the whole platform to build an incremental on: run a full backup first: mcp backup create --type full');
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
    const services = mcpOn(root, ['create', '--type', 'incremental', '--services', 'git']);
    expect(services.stderr).toContain('run a service backup first: mcp backup create --type service --services git');
  });

  it('with no change, store nothing but a small manifest, found from metadata alone', () => {
    const root = makePlatform();
    const full = backup(root, '--type', 'full');
    const incremental = backup(root, '--type', 'incremental');
    expect(incremental).toMatchObject({ type: 'incremental', parent: full.id, storedFiles: 0, storedBytes: 0, deletedEntries: 0 });
    expect(incremental.files).toBe(full.files);
    expect(incremental.bytes).toBe(full.bytes);
    expect(incremental.size).toBeLessThan(2048);
    expect(tarList(root, incremental)).toEqual(['_backup/manifest.json']);
  });

  it('store new, modified, chmodded and retargeted entries, and record deletions of files and whole folders', () => {
    const root = makePlatform();
    const data = path.join(root, 'services/filesystem/data');
    const full = backup(root, '--type', 'full');

    fs.appendFileSync(path.join(data, 'README.md'), 'more\n');
    fs.writeFileSync(path.join(data, 'new.txt'), 'new file\n');
    fs.chmodSync(path.join(data, 'notes/run.sh'), 0o700);
    fs.rmSync(path.join(data, 'report.pdf'));
    fs.rmSync(path.join(data, 'd'.repeat(60)), { recursive: true });
    fs.rmSync(path.join(data, 'latest.md'));
    fs.symlinkSync('notes/a.txt', path.join(data, 'latest.md'));
    const repo = path.join(root, 'services/git/repos/website');
    fs.writeFileSync(path.join(repo, 'page.html'), '<h1>hi</h1>\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'add page');

    const first = backup(root, '--type', 'incremental', '--description', 'after edits');
    expect(first.parent).toBe(full.id);
    const manifest = manifestOf(root, first);
    const stored = manifest.entries.map((e) => e.path);
    const prefix = 'filesystem/volumes/data/';
    expect(stored).toEqual(expect.arrayContaining([`${prefix}README.md`, `${prefix}new.txt`, `${prefix}notes/run.sh`, `${prefix}latest.md`, 'git/volumes/repos/website/page.html']));
    expect(stored).not.toContain(`${prefix}notes/a.txt`);
    expect(manifest.entries.find((e) => e.path === `${prefix}latest.md`)).toMatchObject({ type: 'symlink', link: 'notes/a.txt' });
    expect(manifest.entries.find((e) => e.path === `${prefix}notes/run.sh`)!.mode).toBe(0o700);
    expect(manifest.deleted).toEqual(expect.arrayContaining([`${prefix}report.pdf`, `${prefix}${'d'.repeat(60)}`, `${prefix}${'d'.repeat(60)}/${'e'.repeat(60)}`]));
    expect(manifest.parent).toBe(full.id);
    // git's new objects and the updated refs are in; the untouched history is not.
    expect(stored.some((p) => p.startsWith('git/volumes/repos/website/.git/objects/'))).toBe(true);
    expect(stored).toContain('git/volumes/repos/website/.git/index');
    expect(first.storedFiles).toBeLessThan(full.storedFiles / 2);
    // Standard tar: GNU tar lists it, and holds exactly the stored entries and the manifest.
    expect(tarList(root, first).sort()).toEqual([...stored, '_backup/manifest.json'].sort());

    // A second step builds on the first.
    fs.rmSync(path.join(data, 'new.txt'));
    const second = backup(root, '--type', 'incremental');
    expect(second.parent).toBe(first.id);
    expect(manifestOf(root, second).deleted).toEqual([`${prefix}new.txt`]);
    expect(second.files).toBe(first.files - 1);

    const shown = json<ShowResult>(mcpOn(root, ['show', second.id, '--json']));
    expect(shown.chain.map((r) => r.id)).toEqual([full.id, first.id, second.id]);
    expect(json<ShowResult>(mcpOn(root, ['show', full.id, '--json'])).dependents.map((r) => r.id)).toEqual([first.id]);
    const listed = mcpOn(root, ['list']).stdout;
    expect(listed).toMatch(new RegExp(`${second.id}\\s+incremental.*${first.id}`));
    expect(mcpOn(root, ['verify', '--all']).code).toBe(0);
  });

  it('--verify-content hashes files: a same-size rewrite with its mtime put back is stored, untouched files are not', () => {
    // (The metadata check catches this one too, through ctime; the unit tests of StateDiff cover a change
    // that only hashing can see, which a test cannot produce on a filesystem with working ctimes.)
    const root = makePlatform();
    backup(root, '--type', 'full');
    const file = path.join(root, 'services/memory/data/memory.json');
    const stat = fs.statSync(file);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('Ada', 'Bob'));
    fs.utimesSync(file, stat.atime, stat.mtime);
    const byContent = backup(root, '--type', 'incremental', '--verify-content');
    expect(manifestOf(root, byContent).entries.filter((e) => e.type === 'file').map((e) => e.path)).toEqual(['memory/volumes/data/memory.json']);
  });

  it('read their base from the host\'s state cache, and find the same changes when it is missing or damaged', () => {
    const root = makePlatform();
    const states = path.join(root, '.mcp-backup-cache/states');
    const data = path.join(root, 'services/filesystem/data');
    const storedFiles = (record: BackupRecord) => manifestOf(root, record).entries.filter((e) => e.type === 'file').map((e) => e.path);
    // A full backup leaves its state: a newer one of the same scope replaces it, a service backup adds its own.
    const older = backup(root, '--type', 'full');
    expect(fs.readdirSync(states)).toEqual([`${older.id}.state`]);
    expect(fs.statSync(path.join(states, `${older.id}.state`)).mode & 0o777).toBe(0o600);
    const service = backup(root, '--type', 'service', '--services', 'git');
    const full = backup(root, '--type', 'full');
    expect(fs.readdirSync(states).sort()).toEqual([`${full.id}.state`, `${service.id}.state`].sort());
    fs.rmSync(path.join(states, `${service.id}.state`));
    fs.appendFileSync(path.join(data, 'README.md'), 'one\n');
    const first = backup(root, '--type', 'incremental');
    expect(storedFiles(first)).toEqual(['filesystem/volumes/data/README.md']);
    expect(fs.readdirSync(states)).toEqual([`${full.id}.state`]);

    // The next one folds its parent's manifest onto the cached state, and caches its parent's state instead.
    fs.appendFileSync(path.join(data, 'notes/run.sh'), 'two\n');
    const second = backup(root, '--type', 'incremental');
    expect(storedFiles(second)).toEqual(['filesystem/volumes/data/notes/run.sh']);
    expect(fs.readdirSync(states)).toEqual([`${first.id}.state`]);

    // A damaged cached state is ignored: the manifests are read instead.
    const cached = path.join(states, `${first.id}.state`);
    const bytes = fs.readFileSync(cached);
    bytes[100]! ^= 0xff;
    fs.writeFileSync(cached, bytes);
    fs.appendFileSync(path.join(data, 'README.md'), 'three\n');
    const third = backup(root, '--type', 'incremental');
    expect(storedFiles(third)).toEqual(['filesystem/volumes/data/README.md']);
    expect(third.storedFiles).toBe(1);

    // Without any cached state, the same.
    fs.rmSync(path.join(root, '.mcp-backup-cache'), { recursive: true });
    const fourth = backup(root, '--type', 'incremental');
    expect(fourth.storedFiles).toBe(0);
    expect(fourth.files).toBe(third.files);
  });

  it('continue the scope they were asked for, and verify reports a broken chain', () => {
    const root = makePlatform();
    const service = backup(root, '--type', 'service', '--services', 'git', '--include-logs');
    backup(root, '--type', 'full');
    const incremental = backup(root, '--type', 'incremental', '--services', 'git');
    expect(incremental.parent).toBe(service.id);
    expect(incremental.services).toEqual(['git']);
    expect(incremental.parts).toEqual(service.parts);

    const indexFile = path.join(root, 'backup/metadata.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { schemaVersion: number; backups: BackupRecord[] };
    index.backups = index.backups.filter((r) => r.id !== service.id);
    fs.writeFileSync(indexFile, JSON.stringify(index));
    const run = mcpOn(root, ['verify', incremental.id]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`chain broken: parent backup ${service.id} is not in the index`);
  });

  it('on a platform larger than a stretch of the scan, which goes on while the first files are packed: every entry in the full, exactly the changes and deletions in the incremental', () => {
    const root = makePlatform();
    const data = path.join(root, 'services/filesystem/data/many');
    for (let d = 0; d < 30; d++) {
      fs.mkdirSync(path.join(data, `d${d}`), { recursive: true });
      for (let f = 0; f < 200; f++) fs.writeFileSync(path.join(data, `d${d}`, `f${f}.json`), `{"d":${d},"f":${f}}\n`.repeat(f % 7));
    }
    const memory = path.join(root, 'services/memory/data');
    const full = backup(root, '--type', 'full');
    const fullStored = manifestOf(root, full).entries.map((e) => e.path);
    expect(fullStored).toHaveLength(full.entries);
    expect(fullStored.filter((p) => p.startsWith('filesystem/volumes/data/many/'))).toHaveLength(30 + 30 * 200);
    expect(fullStored).toContain('memory/volumes/data/memory.json');
    expect(tarList(root, full).filter((p) => p !== '_backup/manifest.json').map((p) => p.replace(/\/$/, ''))).toEqual(fullStored);

    // Changes at the start, in the middle and at the very end of the walk.
    fs.appendFileSync(path.join(data, 'd0/f1.json'), 'more\n');
    fs.rmSync(path.join(data, 'd17/f3.json'));
    fs.writeFileSync(path.join(memory, 'new.json'), '{}\n');
    const incremental = backup(root, '--type', 'incremental');
    const manifest = manifestOf(root, incremental);
    const many = 'filesystem/volumes/data/many';
    expect(manifest.entries.map((e) => e.path).sort()).toEqual([`${many}/d0/f1.json`, `${many}/d17`, 'memory/volumes/data', 'memory/volumes/data/new.json'].sort());
    expect(manifest.deleted).toEqual([`${many}/d17/f3.json`]);
    expect(incremental).toMatchObject({ entries: full.entries, storedFiles: 2, deletedEntries: 1 });
  });
});
