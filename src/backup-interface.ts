/**
 * The library's public contract: every operation of `mcp backup` as a typed function. The CLI is one client of it;
 * an MCP server or another program is another. Implemented by `BackupManager` (backup-manager.ts).
 *
 * Errors are `BackupError`s with a stable `code` (see errors.ts). Nothing here prints, exits or reads the
 * environment: progress and warnings come through the observer callbacks of each call.
 */
import type { Writable } from 'node:stream';
import type { Manifest } from './archive/manifest.js';
import type { DecryptionKey } from './crypto/index.js';
import type { CreateBackupOptions, CreateBackupResult } from './backup/create.js';
import type { OperationObserver } from './backup/progress.js';
import type { CleanupOptions, CleanupResult, DeleteOptions, DeleteResult, RebuildOptions, RebuildReport } from './maintenance/index.js';
import type { BackupRecord, BackupType } from './metadata/record.js';
import type { RestoreOptions, RestoreResult } from './restore/restore.js';
import type { ServiceSummary } from './platform/inventory.js';
import type { AddedSchedule, NewSchedule, RunDueReport, RunOutcome, Schedule, SchedulerLog, ScheduleView } from './schedule/index.js';
import type { Platform } from './platform/types.js';
import type { VerifyReport } from './verify/verify.js';

export interface ListFilter {
  type?: BackupType;
  /** Only backups created within the last N days. */
  days?: number;
  /** Only backups that hold this service. */
  service?: string;
  /** Clock, for tests. */
  now?: Date;
  /** Told of modes looser than 0600/0700 in the backup folder (list only reports them; a backup tightens them). */
  onWarning?: (message: string) => void;
}

export interface ShowResult {
  record: BackupRecord;
  /** From the base full backup to this one (just this one for full and service backups). */
  chain: BackupRecord[];
  /** Backups that build on this one. */
  dependents: BackupRecord[];
  /** Present when `files` was asked for. */
  manifest?: Manifest;
}

export interface VerifyRequest extends OperationObserver {
  /** Ids or unique prefixes; empty or omitted with `all` for every backup. */
  ids?: string[];
  all?: boolean;
  signal?: AbortSignal;
  /** Opens encrypted backups; without it their archives are checked against their SHA-256 only. */
  key?: DecryptionKey;
}

export interface ShowOptions {
  /** Also read the manifest (every file). */
  files?: boolean;
  /** Opens the manifest of an encrypted backup. */
  key?: DecryptionKey;
}

export interface BackupInterface {
  readonly platform: Platform;
  /** What a backup would take, per service. */
  services(): Promise<ServiceSummary[]>;
  create(options: CreateBackupOptions): Promise<CreateBackupResult>;
  /** Newest first; reads only the index. */
  list(filter?: ListFilter): Promise<BackupRecord[]>;
  /**
   * The same records as `list`, written to `out` as a JSON array, one record per line: what `list --json` prints.
   * Over the whole index, the records' lines are copied from metadata.json when it is as this tool wrote it
   * (src/metadata/listing.ts), from one reused buffer: `out` must be done with a chunk when it calls back.
   */
  listJson(out: Writable, filter?: ListFilter): Promise<void>;
  show(id: string, options?: ShowOptions): Promise<ShowResult>;
  verify(request: VerifyRequest): Promise<VerifyReport[]>;
  /** Applies retention (keep the N newest, remove those older than D days, never a needed base or the last way back). */
  cleanup(options?: CleanupOptions): Promise<CleanupResult>;
  /** Deletes one backup (id or unique prefix); refuses with HAS_DEPENDENTS while others build on it. */
  delete(id: string, options?: DeleteOptions): Promise<DeleteResult>;
  /** Rebuilds metadata.json from the archives' own manifests, keeping a copy of the old file. */
  rebuildIndex(options?: RebuildOptions): Promise<RebuildReport>;
  /** Restores a backup in place or into a target folder; with `dryRun`, only plans (see src/restore/restore.ts). */
  restore(options: RestoreOptions): Promise<RestoreResult>;
  /** Stores a schedule (validated: cron expression, timezone, services, no passphrase); it first runs at its next slot. */
  addSchedule(input: NewSchedule): Promise<AddedSchedule>;
  listSchedules(): Promise<ScheduleView[]>;
  /** Removes a schedule by id or unique prefix. */
  deleteSchedule(id: string): Promise<Schedule>;
  /** Runs one schedule now (its retention too). */
  runSchedule(id: string, options?: { signal?: AbortSignal }): Promise<RunOutcome>;
  /** One pass over the schedules: runs each one that is due, once (for system cron or a systemd timer). */
  runDueSchedules(options?: { signal?: AbortSignal; log?: SchedulerLog }): Promise<RunDueReport>;
  /** Runs schedules as they come due until `signal` aborts; a running backup finishes or is aborted cleanly. */
  runDaemon(signal: AbortSignal, options?: { log?: SchedulerLog; pollMs?: number; graceMs?: number }): Promise<void>;
}
