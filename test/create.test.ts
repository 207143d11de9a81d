/**
 * End to end: `mcp backup create` on real files, read back by GNU tar; the index and its modes; the output.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, mcpOn, type CliRun } from './helpers/cli.js';
import { makePlatform } from './helpers/platform.js';
import { snapshotTree, tempDir } from './helpers/tree.js';
import type { BackupRecord, ShowResult } from '../src/index.js';

function created(run: CliRun): BackupRecord {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return json<BackupRecord>(run);
}

describe('full backup', () => {
  let root: string;
  let record: BackupRecord;
  let extracted: string;

  beforeAll(() => {
    root = makePlatform();
    record = created(mcpOn(root, ['create', '--type', 'full', '--description', 'first', '--json']));
    extracted = tempDir();
    execFileSync('tar', ['-xzf', path.join(root, 'backup/archives', record.archive), '-C', extracted]);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('has a readable, sortable id and a complete record', () => {
    expect(record.id).toMatch(/^\d{8}T\d{6}Z-full-[0-9a-f]{4}$/);
    expect(record).toMatchObject({ type: 'full', description: 'first', services: ['filesystem', 'git', 'memory'], status: 'complete' });
    expect(record.parts).toEqual({ config: true, volumes: true, logs: false, platformConfig: true });
    expect(record.compression).toEqual({ algorithm: 'gzip', level: 6 });
    expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(path.join(root, 'backup/archives', record.archive)).size).toBe(record.size);
  });

  it('is a tar.gz that GNU tar extracts byte for byte, with modes, symlinks, hard links, unicode and long names', () => {
    const excluded = (rel: string) => rel === 'draft.tmp' || rel.startsWith('cache/');
    expect(snapshotTree(path.join(extracted, 'filesystem/volumes/data'))).toEqual(
      snapshotTree(path.join(root, 'services/filesystem/data'), { skip: excluded }),
    );
    expect(snapshotTree(path.join(extracted, 'git/volumes/repos'))).toEqual(snapshotTree(path.join(root, 'services/git/repos')));
    expect(snapshotTree(path.join(extracted, 'filesystem/config/config'))).toEqual(snapshotTree(path.join(root, 'services/filesystem/config')));
    expect(fs.readFileSync(path.join(extracted, 'git/config/config.json'), 'utf8')).toBe('{"repos": "repos"}\n');
    expect(fs.readFileSync(path.join(extracted, '_platform/platform.yaml'), 'utf8')).toBe(fs.readFileSync(path.join(root, 'platform.yaml'), 'utf8'));
    // Excluded paths are absent; the cache folder itself stays (gitignore semantics of "cache/**").
    expect(fs.existsSync(path.join(extracted, 'filesystem/volumes/data/draft.tmp'))).toBe(false);
    expect(fs.readdirSync(path.join(extracted, 'filesystem/volumes/data/cache'))).toEqual([]);
    // Logs only with --include-logs.
    expect(fs.existsSync(path.join(extracted, 'filesystem/logs'))).toBe(false);
    const a = fs.statSync(path.join(extracted, 'filesystem/volumes/data/notes/a.txt'));
    const link = fs.statSync(path.join(extracted, 'filesystem/volumes/data/hardlink-to-a.txt'));
    expect(link.ino).toBe(a.ino);
  });

  it('carries a manifest with every file, and the copy beside the archive says the same', () => {
    const inArchive = JSON.parse(fs.readFileSync(path.join(extracted, '_backup/manifest.json'), 'utf8')) as ShowResult['manifest'];
    const shown = json<ShowResult>(mcpOn(root, ['show', record.id, '--files', '--json']));
    expect(shown.manifest).toEqual(inArchive);
    const pdf = inArchive!.entries.find((e) => e.path === 'filesystem/volumes/data/report.pdf')!;
    expect(pdf).toMatchObject({ type: 'file', size: 200_000, mode: 0o644 });
    expect(pdf.sha256).toBe(execFileSync('sha256sum', [path.join(root, 'services/filesystem/data/report.pdf')], { encoding: 'utf8' }).slice(0, 64));
    const symlink = inArchive!.entries.find((e) => e.path === 'filesystem/volumes/data/latest.md')!;
    expect(symlink).toMatchObject({ type: 'symlink', link: 'README.md' });
    const script = inArchive!.entries.find((e) => e.path.endsWith('notes/run.sh'))!;
    expect(script.mode).toBe(0o750);
    expect(inArchive!.entries.filter((e) => e.type === 'file').length).toBe(record.storedFiles);
  });

  it('shows it in list, newest first, with --json giving the records', () => {
    const list = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    expect(list.map((r) => r.id)).toEqual([record.id]);
    const human = mcpOn(root, ['list']);
    expect(human.stdout).toContain(record.id);
    expect(human.stdout).toContain('first');
  });

  it('verifies clean', () => {
    const run = mcpOn(root, ['verify', record.id]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`ok\\s+${record.id}`));
  });
});

describe('file modes of what the tool writes', () => {
  it('archives, manifests and index are 0600 and their folders 0700, even under umask 000', () => {
    const root = makePlatform();
    const bin = path.resolve('bin/mcp.js');
    const run = spawnSync('sh', ['-c', `umask 000 && exec node "${bin}" backup --platform "${root}" create --type full --quiet`], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const mode = (p: string) => fs.statSync(path.join(root, 'backup', p)).mode & 0o777;
    expect(mode('.')).toBe(0o700);
    expect(mode('archives')).toBe(0o700);
    expect(mode('temp')).toBe(0o700);
    expect(mode('metadata.json')).toBe(0o600);
    for (const name of fs.readdirSync(path.join(root, 'backup/archives'))) expect(mode(`archives/${name}`)).toBe(0o600);
    expect(fs.readdirSync(path.join(root, 'backup/temp'))).toEqual([]);
  });
});

describe('service backups and options', () => {
  it('takes only the named services, without volumes, with logs', () => {
    const root = makePlatform();
    const record = created(mcpOn(root, ['create', '--type', 'service', '--services', 'filesystem,memory', '--no-volumes', '--include-logs', '--json']));
    expect(record.services).toEqual(['filesystem', 'memory']);
    expect(record.parts).toEqual({ config: true, volumes: false, logs: true, platformConfig: false });
    const listing = execFileSync('tar', ['-tzf', path.join(root, 'backup/archives', record.archive)], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain('filesystem/logs/logs/server.log');
    expect(listing).toContain('memory/config/config/server.json');
    expect(listing.some((p) => p.startsWith('git/'))).toBe(false);
    expect(listing.some((p) => p.includes('/volumes/'))).toBe(false);
  });

  it('--no-compress writes a plain tar that GNU tar lists', () => {
    const root = makePlatform();
    const record = created(mcpOn(root, ['create', '--type', 'full', '--no-compress', '--json']));
    expect(record.archive).toMatch(/\.tar$/);
    expect(record.compression).toEqual({ algorithm: 'none' });
    const listing = execFileSync('tar', ['-tf', path.join(root, 'backup/archives', record.archive)], { encoding: 'utf8' });
    expect(listing).toContain('filesystem/volumes/data/README.md');
    expect(mcpOn(root, ['verify', record.id]).code).toBe(0);
  });

  it('a backup of many files (read ahead by a worker) is byte for byte what GNU tar extracts', () => {
    const root = makePlatform();
    const many = path.join(root, 'services/filesystem/data/many');
    for (let d = 0; d < 10; d++) {
      fs.mkdirSync(path.join(many, `d${d}`), { recursive: true });
      for (let f = 0; f < 60; f++) fs.writeFileSync(path.join(many, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(f * 50));
    }
    const record = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    expect(record.files).toBeGreaterThan(600);
    const extracted = tempDir();
    execFileSync('tar', ['-xzf', path.join(root, 'backup/archives', record.archive), '-C', extracted]);
    expect(snapshotTree(path.join(extracted, 'filesystem/volumes/data/many'))).toEqual(snapshotTree(many));
    expect(mcpOn(root, ['verify', record.id]).code).toBe(0);
  });

  it('--compression-level is recorded and out-of-range values are refused', () => {
    const root = makePlatform();
    expect(created(mcpOn(root, ['create', '--type', 'full', '--compression-level', '1', '--json'])).compression).toEqual({ algorithm: 'gzip', level: 1 });
    const bad = mcpOn(root, ['create', '--type', 'full', '--compression-level', '12']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--compression-level must be a whole number from 1 to 9');
  });

  it('prints the id, size, file count, duration and throughput', () => {
    const root = makePlatform();
    const run = mcpOn(root, ['create', '--type', 'full']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Created full backup \d{8}T\d{6}Z-full-[0-9a-f]{4}/);
    expect(run.stdout).toMatch(/files: +\d+ \(/);
    expect(run.stdout).toMatch(/archive: +\S+\.tar\.gz, [\d.]+ KiB/);
    expect(run.stdout).toMatch(/duration: +\d+.*\/s\)/);
  });
});

describe('list filters', () => {
  it('filters by type, service and age', () => {
    const root = makePlatform();
    const full = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    const service = created(mcpOn(root, ['create', '--type', 'service', '--services', 'git', '--json']));
    // Age one record by hand, as if it had been taken 20 days ago.
    const indexFile = path.join(root, 'backup/metadata.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { backups: BackupRecord[] };
    index.backups.find((r) => r.id === full.id)!.createdAt = new Date(Date.now() - 20 * 86_400_000).toISOString();
    fs.writeFileSync(indexFile, JSON.stringify(index));

    const ids = (...args: string[]) => json<BackupRecord[]>(mcpOn(root, ['list', '--json', ...args])).map((r) => r.id);
    expect(ids()).toEqual([service.id, full.id]);
    expect(ids('--type', 'full')).toEqual([full.id]);
    expect(ids('--type', 'service')).toEqual([service.id]);
    expect(ids('--service', 'memory')).toEqual([full.id]);
    expect(ids('--service', 'git')).toEqual([service.id, full.id]);
    expect(ids('--days', '7')).toEqual([service.id]);
    expect(ids('--days', '30', '--type', 'full')).toEqual([full.id]);
  });

  it('--json gives the same bytes copied from the index as parsed from it, and shows a hand edit', () => {
    const root = makePlatform();
    const full = created(mcpOn(root, ['create', '--type', 'full', '--description', 'nächtlich ✓', '--json']));
    const service = created(mcpOn(root, ['create', '--type', 'service', '--services', 'git', '--json']));
    const indexFile = path.join(root, 'backup/metadata.json');
    const written = fs.readFileSync(indexFile, 'utf8');
    const copied = mcpOn(root, ['list', '--json']);
    expect(copied.code).toBe(0);
    expect(json<BackupRecord[]>(copied).map((r) => r.id)).toEqual([service.id, full.id]);

    // The index as another writer would leave it, without the checksum line: parsed, the same bytes out.
    fs.writeFileSync(indexFile, JSON.stringify(JSON.parse(written)));
    expect(mcpOn(root, ['list', '--json']).stdout).toBe(copied.stdout);

    // Edited by hand under the tool's checksum line: the checksum no longer holds, so the edit is what is listed.
    fs.writeFileSync(indexFile, written.replace('nächtlich ✓', 'edited'));
    const edited = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    expect(edited.find((r) => r.id === full.id)!.description).toBe('edited');
  });

  it('says how to start when there are no backups, and creates nothing', () => {
    const root = makePlatform();
    const run = mcpOn(root, ['list']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('No backups yet');
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
  });
});

describe('verify', () => {
  it('catches a single flipped byte in an archive and names the backup', () => {
    const root = makePlatform();
    const good = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    const bad = created(mcpOn(root, ['create', '--type', 'service', '--services', 'filesystem', '--json']));
    const file = path.join(root, 'backup/archives', bad.archive);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    fs.writeFileSync(file, bytes);
    const run = mcpOn(root, ['verify', '--all']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`ok\\s+${good.id}`));
    expect(run.stdout).toMatch(new RegExp(`BROKEN\\s+${bad.id}`));
    expect(run.stdout).toContain('does not match its SHA-256 in the index');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(bad.id);
  });

  it('reports a missing archive and a damaged manifest copy', () => {
    const root = makePlatform();
    const a = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    const b = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    fs.rmSync(path.join(root, 'backup/archives', a.archive));
    fs.appendFileSync(path.join(root, 'backup/archives', b.manifest), 'x');
    const run = mcpOn(root, ['verify', '--all', '--json']);
    expect(run.code).toBe(1);
    const reports = json<{ id: string; ok: boolean; problems: string[] }[]>(run);
    expect(reports.find((r) => r.id === a.id)!.problems.join()).toContain('is missing');
    expect(reports.find((r) => r.id === b.id)!.problems.join()).toContain('does not match its checksum');
  });
});
