/**
 * A schedule as schedules.json stores it: when to run (a cron expression in a timezone), what backup to take, what
 * retention to apply after it, and the state the scheduler keeps about its runs.
 *
 * A schedule never holds a secret: encryption goes to public recipients (or platform.yaml's), so a host that runs
 * scheduled backups needs no passphrase or identity.
 *
 * All times are ISO 8601 strings, UTC, as `Date.toISOString()` writes them.
 */
import type { BackupType } from '../metadata/record.js';

/** The backup a schedule takes: the options of `mcp backup create`, minus anything secret. */
export interface ScheduleBackupOptions {
  type: BackupType;
  /** Required for `service`; for `full` and `incremental` absent means every service. */
  services?: string[];
  includeLogs: boolean;
  /** False: `--no-volumes` (service backups only). */
  volumes: boolean;
  compress: boolean;
  /** 1-9; absent: platform.yaml's backup.compression.level, else the default. */
  compressionLevel?: number;
  /** Encrypt to `recipients`, or to platform.yaml's backup.encryption when none are given. */
  encrypt: boolean;
  /** age public keys (age1...). */
  recipients?: string[];
}

/**
 * Retention applied after each successful run, to this schedule's own backups. A member left out is filled in by
 * whoever applies it, as `cleanup` does (platform.yaml's backup.retention, else 10 and 30).
 */
export interface ScheduleRetention {
  keep?: number;
  days?: number;
}

export type RunResult = 'success' | 'failed' | 'skipped';

/** Why a run started: its slot came, a slot passed while no scheduler ran, or someone asked (`schedule run ID`). */
export type RunTrigger = 'schedule' | 'catch-up' | 'manual';

/** A run in progress, as recorded while it runs (so `schedule list` and other daemons can see it). */
export interface RunningState {
  since: string;
  trigger: RunTrigger;
  /** The slot it runs for (absent for a manual run). */
  slot?: string;
  pid: number;
  host: string;
}

export interface ScheduleState {
  /**
   * Every slot at or before this instant has been dealt with (run, skipped, or passed over because the schedule
   * was edited). The next run is the first slot after max(createdAt, coveredUntil).
   */
  coveredUntil?: string;
  /** The expression and timezone `coveredUntil` was computed for; when they differ, the schedule was edited. */
  coveredFor?: string;
  /** When the last run started (or, for a skip, when its slot came). */
  lastRunAt?: string;
  lastResult?: RunResult;
  /** Why the last run failed or was skipped, or what went wrong with its retention. */
  lastError?: string;
  lastBackupId?: string;
  /** Something worth knowing about a successful run, e.g. "no base for an incremental: took a full backup instead". */
  lastNote?: string;
  lastDurationMs?: number;
  lastTrigger?: RunTrigger;
  /** The last skipped slot: kept apart, since the run that caused the skip records its own result afterwards. */
  lastSkip?: { at: string; slot: string; reason: string };
  running?: RunningState;
  /** The next run as computed after the last event; `listSchedules` recomputes it. */
  nextRunAt?: string;
}

export interface Schedule {
  /** Readable: `sch-` and 8 hex digits. */
  id: string;
  /** A validated cron expression (see cron.ts). */
  expression: string;
  /** IANA zone the expression is read in; recorded when the schedule is created (default: the machine's zone). */
  timezone: string;
  createdAt: string;
  description?: string;
  backup: ScheduleBackupOptions;
  retention?: ScheduleRetention;
  state: ScheduleState;
}

/** What `mcp backup schedule "<expr>" ...` gives: the rest has defaults. */
export interface NewSchedule {
  expression: string;
  /** Default: the machine's zone. */
  timezone?: string;
  description?: string;
  backup: {
    type: BackupType;
    services?: string[];
    /** Default false. */
    includeLogs?: boolean;
    /** Default true. */
    volumes?: boolean;
    /** Default true. */
    compress?: boolean;
    compressionLevel?: number;
    /** Default: true when recipients are given, else false. */
    encrypt?: boolean;
    recipients?: string[];
  };
  retention?: ScheduleRetention;
}
