/** The public entry point of the library: `openPlatform` gives a `BackupInterface`; the rest are its types. */
export type { BackupInterface, ListFilter, ShowOptions, ShowResult, VerifyRequest } from './backup-interface.js';
export type { DecryptionKey, EncryptionKey } from './crypto/index.js';
export { resolveEncryption, type EncryptionRequest } from './backup/encryption.js';
export { BackupManager, openPlatform } from './backup-manager.js';
export { BackupError, isBackupError, type BackupErrorCode } from './errors.js';
export type { CreateBackupOptions, CreateBackupResult } from './backup/create.js';
export type { OperationObserver, ProgressEvent } from './backup/progress.js';
export type { BackupOrigin, BackupParts, BackupRecord, BackupType } from './metadata/record.js';
export { BACKUP_TYPES } from './metadata/record.js';
export type { Manifest, ManifestEntry } from './archive/manifest.js';
export type { ServiceSummary, PathSummary } from './platform/inventory.js';
export type { LocatePlatformOptions } from './platform/load.js';
export type { Platform, Service, Part } from './platform/types.js';
export type { VerifyReport } from './verify/verify.js';
export type { RestoreOptions, RestoreResult, ServiceOutcome, ServiceStatus } from './restore/restore.js';
export type { PlanChange, PlanRoot, RestorePlan, ServicePlan } from './restore/plan.js';
export { applyRetention } from './maintenance/index.js';
export type {
  ApplyRetentionOptions,
  ArchiveReader,
  CleanupDecision,
  CleanupOptions,
  CleanupResult,
  DeleteOptions,
  DeleteResult,
  RebuildOptions,
  RebuildReport,
} from './maintenance/index.js';
export { DEFAULT_RETENTION, type RetentionPolicy } from './retention/policy.js';
export type { AddedSchedule, NewSchedule, RunDueReport, RunOutcome, Schedule, SchedulerLog, ScheduleView } from './schedule/index.js';
export { TOOL_VERSION } from './version.js';
