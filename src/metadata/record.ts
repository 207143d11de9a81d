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
  /** Entries (files, folders, links) in the backup's state, and those whose content is stored in this archive. */
  entries: number;
  files: number;
  /** Bytes of file content in the backup's state, and those stored in this archive (before compression). */
  bytes: number;
  storedBytes: number;
  compression: { algorithm: 'gzip' | 'none'; level?: number };
  encryption: { mode: 'none' | 'recipients' | 'passphrase' };
  status: 'complete';
  /** Files that changed while they were read (their archived copy may be inconsistent), by count. */
  changedWhileReading: number;
  durationMs: number;
  toolVersion: string;
  formatVersion: number;
}
