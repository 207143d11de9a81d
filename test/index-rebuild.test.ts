/**
 * `mcp backup index rebuild` end to end: metadata.json made again from the archives alone gives the same backups;
 * every difference with the old index is reported; nothing is lost; and the schema migration of an old index.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { json, mcpOn, type CliRun } from './helpers/cli.js';
import { ago, archiveFiles, backupAt, DAY, filesOf, HOUR, idsOf, readIndexFile, smallPlatform, touch, writeIndexFile } from './helpers/backups.js';
import { snapshotTree, tempDir } from './helpers/tree.js';
import type { BackupRecord, RebuildReport, VerifyReport } from '../src/index.js';

function ok(run: CliRun): CliRun {
  expect(run.code, run.stderr).toBe(0);
  return run;
}

function rebuild(root: string, ...args: string[]): RebuildReport {
  return json<RebuildReport>(ok(mcpOn(root, ['index', 'rebuild', '--json', ...args])));
}

function listed(root: string): BackupRecord[] {
  return json<BackupRecord[]>(ok(mcpOn(root, ['list', '--json'])));
}

/** `create --json`: the record, and what happened while it was made. */
function created(run: CliRun): BackupRecord {
  const { changedWhileReadingFiles: _changed, skippedFiles: _skipped, ...record } = json<BackupRecord & { changedWhileReadingFiles: string[]; skippedFiles: string[] }>(ok(run));
  return record;
}

function byId(records: readonly BackupRecord[]): Map<string, BackupRecord> {
  return new Map(records.map((r) => [r.id, r]));
}

/** What a rebuild with no old index cannot know: how long the backup took, and the gzip level. */
function withoutHistory(record: BackupRecord): BackupRecord {
  return { ...record, durationMs: 0, compression: { algorithm: record.compression.algorithm } };
}

/** Every kind of backup: full (gzip and plain tar), incrementals on it, a service backup, a scheduled one. */
async function mixedBackups(root: string): Promise<BackupRecord[]> {
  const records = [await backupAt(root, ago(5 * DAY), { description: 'first' })];
  touch(root);
  records.push(await backupAt(root, ago(4 * DAY), { type: 'incremental' }));
  fs.rmSync(path.join(root, 'services/notes/data/sub'), { recursive: true });
  touch(root, 'new.md');
  records.push(await backupAt(root, ago(3 * DAY), { type: 'incremental', description: 'after cleanup' }));
  records.push(await backupAt(root, ago(2 * DAY), { type: 'service', services: ['kv'], volumes: false }));
  records.push(await backupAt(root, ago(DAY), { compress: false, origin: { kind: 'schedule', scheduleId: 'sch-nightly' } }));
  return records;
}

describe('index rebuild', () => {
  it('after metadata.json is deleted, gives the same backups: ids, chains, counts, checksums, origins', async () => {
    const root = smallPlatform();
    const records = await mixedBackups(root);
    expect(records[2]!.deletedEntries).toBe(2);
    expect(records[2]!.entries).toBe(records[1]!.entries - 1);
    fs.rmSync(path.join(root, 'backup/metadata.json'));
    const report = rebuild(root);
    expect(report.written).toBe(true);
    expect(report.ids).toEqual(idsOf(records));
    expect(report.previous).toEqual({ state: 'missing', records: 0 });
    expect(report.added).toEqual(records.map((r) => r.id).sort());
    expect(report).toMatchObject({ missingArchives: [], unreadable: [], checksumChanged: [], repairedCopies: [], strayCopies: [], ignored: [], brokenChains: [] });
    const rebuilt = byId(listed(root));
    for (const record of records) expect(rebuilt.get(record.id)).toEqual(withoutHistory(record));
    const verified = json<VerifyReport[]>(ok(mcpOn(root, ['verify', '--all', '--json'])));
    expect(verified.every((v) => v.ok)).toBe(true);
    // The index is written as any other: 0600, one record per line.
    expect(fs.statSync(path.join(root, 'backup/metadata.json')).mode & 0o777).toBe(0o600);
  });

  it('over an intact index, changes nothing but keeps a copy of the old file', async () => {
    const root = smallPlatform();
    const records = await mixedBackups(root);
    const indexFile = path.join(root, 'backup/metadata.json');
    const before = fs.readFileSync(indexFile, 'utf8');
    const report = rebuild(root, '--quiet');
    expect(report.previous.state).toBe('read');
    expect(report.previous.records).toBe(records.length);
    expect(report.added).toEqual([]);
    expect(fs.readFileSync(indexFile, 'utf8')).toBe(before);
    expect(fs.readFileSync(report.previous.copy!, 'utf8')).toBe(before);
    expect(path.dirname(report.previous.copy!)).toBe(path.join(root, 'backup'));
    expect(path.basename(report.previous.copy!)).toMatch(/^metadata\.json\.\d{8}T\d{6}Z(-\d+)?\.bak$/);
    expect(fs.statSync(report.previous.copy!).mode & 0o777).toBe(0o600);
    // A second rebuild in the same second keeps its own copy.
    const again = rebuild(root);
    expect(again.previous.copy).not.toBe(report.previous.copy);
    expect(fs.existsSync(report.previous.copy!)).toBe(true);
  });

  it('rebuilds a corrupt metadata.json, keeping the corrupt file', async () => {
    const root = smallPlatform();
    const records = await mixedBackups(root);
    const indexFile = path.join(root, 'backup/metadata.json');
    fs.writeFileSync(indexFile, '{"schemaVersion": 1, "backups": [{"id": ');
    expect(mcpOn(root, ['list']).stderr).toContain('run `mcp backup index rebuild`');
    const human = ok(mcpOn(root, ['index', 'rebuild']));
    expect(human.stdout).toContain(`Rebuilt metadata.json from the archives: ${records.length} backup(s) listed.`);
    expect(human.stdout).toMatch(/old index: +unreadable \(.*JSON.*\); a copy is kept as .*metadata\.json\.\d{8}T\d{6}Z\.bak/);
    const copy = /kept as (\S+\.bak)/.exec(human.stdout)![1]!;
    expect(fs.readFileSync(copy, 'utf8')).toBe('{"schemaVersion": 1, "backups": [{"id": ');
    expect(idsOf(listed(root))).toEqual(idsOf(records));
  });

  it('reports archives missing from the index (and adds them) and records whose archive is gone (and drops them)', async () => {
    const root = smallPlatform();
    const [a, b, c] = [await backupAt(root, ago(3 * HOUR)), await backupAt(root, ago(2 * HOUR)), await backupAt(root, ago(HOUR))];
    const index = readIndexFile(root);
    index.backups = index.backups.filter((r) => r.id !== a.id);
    writeIndexFile(root, index);
    fs.rmSync(path.join(root, 'backup/archives', b.archive));
    fs.writeFileSync(path.join(root, 'backup/archives/README.txt'), 'notes of the admin\n');
    const human = ok(mcpOn(root, ['index', 'rebuild']));
    expect(human.stdout).toContain(`added:            1 archive(s) the old index did not list: ${a.id}`);
    expect(human.stdout).toContain(`archives missing: 1 old record(s) named an archive that is gone, dropped: ${b.id}`);
    expect(human.stdout).toContain(`stray copies:     1 manifest copy(ies) with no archive, left in place: ${b.manifest}`);
    expect(human.stdout).toContain('ignored:          1 file(s) that are not mcp backup files, left in place: README.txt');
    expect(idsOf(listed(root))).toEqual([a.id, c.id]);
    expect(archiveFiles(root)).toEqual([...filesOf([a, c]), b.manifest, 'README.txt'].sort());
  });

  it('writes a missing or damaged manifest copy again from the archive', async () => {
    const root = smallPlatform();
    const [a, b] = [await backupAt(root, ago(2 * HOUR)), await backupAt(root, ago(HOUR))];
    fs.rmSync(path.join(root, 'backup/archives', a.manifest));
    fs.writeFileSync(path.join(root, 'backup/archives', b.manifest), gzipSync(JSON.stringify({ format: 'mcp-backup-manifest', formatVersion: 1, id: b.id, entries: [], deleted: [] })));
    const report = rebuild(root);
    expect(report.repairedCopies.sort()).toEqual([a.manifest, b.manifest].sort());
    for (const r of [a, b]) {
      const copy = JSON.parse(gunzipSync(fs.readFileSync(path.join(root, 'backup/archives', r.manifest))).toString()) as { id: string; entries: unknown[] };
      expect(copy.id).toBe(r.id);
      expect(copy.entries.length).toBe(r.entries);
    }
    const verified = json<VerifyReport[]>(ok(mcpOn(root, ['verify', '--all', '--json'])));
    expect(verified.map((v) => v.ok)).toEqual([true, true]);
  });

  it('never loses a record to an archive it cannot read, nor blesses one that changed', async () => {
    const root = smallPlatform();
    const [damaged, changed, intact] = [await backupAt(root, ago(3 * HOUR)), await backupAt(root, ago(2 * HOUR)), await backupAt(root, ago(HOUR))];
    const archives = path.join(root, 'backup/archives');
    // Cut short: unreadable.
    const bytes = fs.readFileSync(path.join(archives, damaged.archive));
    fs.writeFileSync(path.join(archives, damaged.archive), bytes.subarray(0, bytes.length >> 1));
    // Same content, compressed again: readable, but not the bytes the index vouched for.
    fs.writeFileSync(path.join(archives, changed.archive), gzipSync(gunzipSync(fs.readFileSync(path.join(archives, changed.archive))), { level: 1 }));
    // An unlisted archive that is not a backup at all.
    const stranger = '20260101T000000Z-full-dead.tar.gz';
    fs.writeFileSync(path.join(archives, stranger), gzipSync(Buffer.alloc(1024)));
    const report = rebuild(root);
    expect(report.unreadable).toEqual([
      { file: stranger, reason: expect.stringContaining('holds no manifest') as unknown as string, keptRecord: false },
      { file: damaged.archive, reason: expect.stringContaining('cannot be read') as unknown as string, keptRecord: true },
    ].sort((x, y) => x.file.localeCompare(y.file)));
    expect(report.checksumChanged.map((c) => [c.id, c.recorded])).toEqual([[changed.id, changed.sha256]]);
    expect(report.checksumChanged[0]!.found).toMatch(/^[0-9a-f]{64}$/);
    expect(report.checksumChanged[0]!.found).not.toBe(changed.sha256);
    const after = byId(listed(root));
    expect(after.get(damaged.id)).toEqual(damaged);
    expect(after.get(changed.id)).toEqual(changed);
    expect(after.get(intact.id)).toEqual(intact);
    expect(after.size).toBe(3);
    expect(fs.existsSync(path.join(archives, stranger))).toBe(true);
    const run = mcpOn(root, ['verify', changed.id]);
    expect(run.code).toBe(1);
  });

  it('finishes an interrupted removal instead of bringing the backups back', async () => {
    const root = smallPlatform();
    const [a, b] = [await backupAt(root, ago(2 * HOUR)), await backupAt(root, ago(HOUR))];
    const index = readIndexFile(root);
    index.backups = index.backups.filter((r) => r.id !== a.id);
    index.pendingRemoval = [a.archive, a.manifest];
    writeIndexFile(root, index);
    const report = rebuild(root);
    expect(report.added).toEqual([]);
    expect(report.finishedFiles.sort()).toEqual([a.archive, a.manifest].sort());
    expect(idsOf(listed(root))).toEqual([b.id]);
    expect(archiveFiles(root)).toEqual(filesOf([b]));
    expect(readIndexFile(root).pendingRemoval).toBeUndefined();
  });

  it('refuses to overwrite an index from a newer version', async () => {
    const root = smallPlatform();
    await backupAt(root, ago(HOUR));
    const indexFile = path.join(root, 'backup/metadata.json');
    fs.writeFileSync(indexFile, '{"schemaVersion": 7, "backups": []}');
    const before = snapshotTree(root, { mtimes: true });
    const run = mcpOn(root, ['index', 'rebuild']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('has schema version 7, newer than this mcp backup knows (1): upgrade mcp backup');
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
  });

  it('with no backup directory, writes nothing', () => {
    const root = smallPlatform();
    const run = ok(mcpOn(root, ['index', 'rebuild']));
    expect(run.stdout).toContain('No backup directory: nothing to rebuild from, nothing written.');
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
    expect(mcpOn(root, ['index', 'rebuild', '--bogus']).code).toBe(2);
  });
});

describe('index rebuild of encrypted archives', () => {
  const hasAge = ['age', 'age-keygen'].every((tool) => {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });

  it.skipIf(!hasAge)('reads them from the host\'s manifest cache without a key, with --identity, and reports them otherwise', () => {
    const keys = tempDir();
    const identity = path.join(keys, 'key.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    const root = smallPlatform();
    const full = created(mcpOn(root, ['create', '--type', 'full', '--recipient', recipient, '--json']));
    touch(root);
    const incremental = created(mcpOn(root, ['create', '--type', 'incremental', '--recipient', recipient, '--json']));
    expect(full.archive).toMatch(/\.tar\.gz\.age$/);
    const indexFile = path.join(root, 'backup/metadata.json');

    fs.rmSync(indexFile);
    const fromCache = rebuild(root);
    expect(fromCache.fromManifestCache.sort()).toEqual([full.id, incremental.id].sort());
    const cached = byId(listed(root));
    expect(cached.get(full.id)).toEqual(withoutHistory(full));
    expect(cached.get(incremental.id)).toEqual(withoutHistory(incremental));

    fs.rmSync(indexFile);
    fs.rmSync(path.join(root, '.mcp-backup-cache'), { recursive: true, force: true });
    const noKey = rebuild(root);
    expect(noKey.ids).toEqual([]);
    expect(noKey.unreadable.map((u) => u.file).sort()).toEqual([full.archive, incremental.archive].sort());
    expect(noKey.unreadable[0]!.reason).toContain('pass --identity FILE');

    const withKey = rebuild(root, '--identity', identity);
    expect(withKey.fromManifestCache).toEqual([]);
    const read = byId(listed(root));
    expect(read.get(full.id)).toEqual(withoutHistory(full));
    expect(read.get(incremental.id)).toEqual(withoutHistory(incremental));
    expect(read.get(full.id)!.encryption).toEqual({ mode: 'recipients' });
  });
});

describe('index schema migration', () => {
  /** The index as a tool before schema versions wrote it: a bare array of records without `origin`. */
  function writeVersion0(root: string, records: readonly BackupRecord[]): string {
    const old = records.map(({ origin: _origin, ...rest }) => rest);
    const text = `${JSON.stringify(old, null, 2)}\n`;
    fs.writeFileSync(path.join(root, 'backup/metadata.json'), text);
    return text;
  }

  it('reads a version-0 index without writing it, and migrates it on the first write, keeping a copy', async () => {
    const root = smallPlatform();
    const records = [await backupAt(root, ago(2 * HOUR)), await backupAt(root, ago(HOUR))];
    const text = writeVersion0(root, records);
    const indexFile = path.join(root, 'backup/metadata.json');

    // Reads never write.
    expect(listed(root)).toEqual([...records].reverse());
    ok(mcpOn(root, ['cleanup', '--dry-run']));
    ok(mcpOn(root, ['show', records[0]!.id]));
    expect(fs.readFileSync(indexFile, 'utf8')).toBe(text);

    // The first write migrates, after keeping a copy of the old file.
    const made = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    expect(fs.readFileSync(`${indexFile}.v0.bak`, 'utf8')).toBe(text);
    expect(fs.statSync(`${indexFile}.v0.bak`).mode & 0o777).toBe(0o600);
    const migrated = readIndexFile(root);
    expect(migrated.schemaVersion).toBe(1);
    // Newest first, as the tool writes its index.
    expect(migrated.backups.map((r) => r.id)).toEqual([made, ...[...records].reverse()].map((r) => r.id));
    expect(migrated.backups.slice(1)).toEqual([...records].reverse());
    expect(migrated.backups.every((r) => r.origin.kind === 'manual')).toBe(true);
    // Later writes leave the copy alone.
    ok(mcpOn(root, ['delete', made.id]));
    expect(fs.readFileSync(`${indexFile}.v0.bak`, 'utf8')).toBe(text);
  });

  it('a version-0 index is migrated by cleanup and delete too, and rebuilt like any other', async () => {
    const root = smallPlatform();
    const records = [await backupAt(root, ago(3 * HOUR)), await backupAt(root, ago(2 * HOUR)), await backupAt(root, ago(HOUR))];
    const text = writeVersion0(root, records);
    ok(mcpOn(root, ['cleanup', '--keep', '2']));
    expect(fs.readFileSync(path.join(root, 'backup/metadata.json.v0.bak'), 'utf8')).toBe(text);
    expect(readIndexFile(root)).toMatchObject({ schemaVersion: 1 });
    expect(idsOf(listed(root))).toEqual(records.slice(1).map((r) => r.id));

    const other = smallPlatform();
    const mine = [await backupAt(other, ago(2 * HOUR)), await backupAt(other, ago(HOUR))];
    writeVersion0(other, mine);
    const report = rebuild(other);
    expect(report.previous).toMatchObject({ state: 'read', records: 2 });
    expect(listed(other)).toEqual([...mine].reverse());
  });
});
