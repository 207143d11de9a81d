/**
 * Backups made in-process through the library, at chosen times, for the maintenance tests (cleanup, delete, index
 * rebuild): a dozen dated backups in a second, real archives all the same. The commands under test still run as
 * the real CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openPlatform, type BackupRecord, type CreateBackupOptions } from '../../src/index.js';
import { makePlatform } from './platform.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** A moment `ms` before now. */
export function ago(ms: number): Date {
  return new Date(Date.now() - ms);
}

/** A platform small enough that a backup takes milliseconds: one service with config and data. */
export function smallPlatform(yamlExtra = ''): string {
  const yaml = `name: small\nservices:\n  notes:\n    config: [services/notes/config]\n    volumes: [services/notes/data]\n  kv:\n    config: [services/kv/config]\n    volumes: [services/kv/data]\n${yamlExtra}`;
  return makePlatform({
    yaml,
    tree: {
      services: {
        notes: { config: { 'server.json': '{"port": 1}\n' }, data: { 'a.md': '# a\n', 'b.md': 'bee\n'.repeat(50), sub: { 'c.txt': 'see\n' } } },
        kv: { config: { 'kv.json': '{}\n' }, data: { 'store.json': '{"k": "v"}\n' } },
      },
    },
  });
}

/** Takes a backup as if at `when` (default: now). */
export async function backupAt(root: string, when: Date = new Date(), options: Partial<CreateBackupOptions> = {}): Promise<BackupRecord> {
  const manager = await openPlatform({ platform: root, cwd: root });
  const { record } = await manager.create({ type: 'full', ...options, now: () => when });
  return record;
}

/** Changes a file of the small platform, so the next incremental has something to store. */
export function touch(root: string, name = 'a.md'): void {
  fs.appendFileSync(path.join(root, 'services/notes/data', name), `changed at ${process.hrtime.bigint()}\n`);
}

export function backupDir(root: string): string {
  return path.join(root, 'backup');
}

/** File names in archives/, sorted. */
export function archiveFiles(root: string): string[] {
  return fs.readdirSync(path.join(root, 'backup/archives')).sort();
}

/** The archive and manifest copy of each record, sorted. */
export function filesOf(records: readonly BackupRecord[]): string[] {
  return records.flatMap((r) => [r.archive, r.manifest]).sort();
}

export interface IndexFileContent {
  schemaVersion: number;
  backups: BackupRecord[];
  pendingRemoval?: string[];
}

export function readIndexFile(root: string): IndexFileContent {
  return JSON.parse(fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8')) as IndexFileContent;
}

export function writeIndexFile(root: string, index: IndexFileContent): void {
  fs.writeFileSync(path.join(root, 'backup/metadata.json'), JSON.stringify(index));
}

/** Ids, oldest first. */
export function idsOf(records: readonly { id: string; createdAt: string }[]): string[] {
  return [...records].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)).map((r) => r.id);
}

/** An index record with every field filled, for tests of the index itself (no archive behind it). */
export function indexRecord(id: string, extra: Partial<BackupRecord> = {}): BackupRecord {
  return {
    id,
    type: 'full',
    createdAt: '2026-03-01T02:00:00.000Z',
    services: ['git'],
    parts: { config: true, volumes: true, logs: false, platformConfig: true },
    origin: { kind: 'manual' },
    archive: `${id}.tar.gz`,
    manifest: `${id}.manifest.json.gz`,
    size: 10,
    sha256: 'a'.repeat(64),
    manifestSha256: 'b'.repeat(64),
    entries: 1,
    files: 1,
    bytes: 1,
    storedFiles: 1,
    storedBytes: 1,
    deletedEntries: 0,
    compression: { algorithm: 'gzip', level: 6 },
    encryption: { mode: 'none' },
    status: 'complete',
    changedWhileReading: 0,
    durationMs: 5,
    toolVersion: '0.1.0',
    formatVersion: 1,
    ...extra,
  };
}
