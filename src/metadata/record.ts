/**
 * One backup as the index (metadata.json) records it: everything `list` shows, with no file names or content, so the
 * index reveals nothing of an encrypted backup beyond sizes and times.
 */

export type BackupType = 'full' | 'incremental' | 'service';
export const BACKUP_TYPES: readonly BackupType[] = ['full', 'incremental', 'service'];

/** Which parts of each service a backup holds. */
export interface BackupParts {
  config: boolean;
  volumes: boolean;
  logs: boolean;
  /** platform.yaml itself (full backups, and incrementals of a full scope). */
  platformConfig: boolean;
}

/** Why a backup exists: made by hand, by a schedule, or by restore as a safety net. */
export type BackupOrigin =
  | { kind: 'manual' }
  | { kind: 'schedule'; scheduleId: string }
  | { kind: 'safety'; restoreOf: string };

export interface BackupRecord {
  /** Readable and sortable: 20261124T020000Z-full-7f3a. */
  id: string;
  type: BackupType;
  /** ISO 8601, UTC, millisecond precision. */
  createdAt: string;
  description?: string;
  /** Services held, sorted. */
  services: string[];
  parts: BackupParts;
  /** For an incremental: the backup it builds on. */
  parent?: string;
  origin: BackupOrigin;
  /** File name of the archive inside archives/. */
  archive: string;
  /** File name of the manifest copy beside the archive (for planning without decompressing the archive). */
  manifest: string;
  /** Bytes of the archive file. */
  size: number;
  /** SHA-256 (hex) of the archive file as stored (after compression and encryption). */
  sha256: string;
  /** SHA-256 (hex) of the manifest copy as stored. */
  manifestSha256: string;
  /** Entries (files, folders, links), files and bytes of file content in the backup's state: what a restore gives. */
  entries: number;
  files: number;
  bytes: number;
  /** Files and bytes (before compression) stored in this archive: all of them, or for an incremental what changed. */
  storedFiles: number;
  storedBytes: number;
  /** Paths gone since the parent (incrementals). */
  deletedEntries: number;
  compression: { algorithm: 'gzip' | 'none'; level?: number };
  encryption: { mode: 'none' | 'recipients' | 'passphrase' };
  status: 'complete';
  /** Files that changed while they were read (their archived copy may be inconsistent), by count. */
  changedWhileReading: number;
  durationMs: number;
  toolVersion: string;
  formatVersion: number;
}

/**
 * The order of backups: by creation time, then id, compared by code unit (ISO times and backup ids sort so, without
 * localeCompare's cost). metadata.json holds its records newest first; readers get them oldest first.
 */
export function olderFirst(a: BackupRecord, b: BackupRecord): number {
  return compareCodeUnits(a.createdAt, b.createdAt) || compareCodeUnits(a.id, b.id);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
