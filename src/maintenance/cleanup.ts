/**
 * `cleanup`: applies the retention policy (src/retention/policy.ts, a pure function) to the index, plan then apply.
 *
 *   policy = --keep/--days, else platform.yaml's backup.retention, else keep 10 and 30 days
 *   plan   = planRetention(the backups in question, policy, now): keep or remove each, with the reasons
 *   dry run: return the plan, having read only the index (no lock, no write, temp/ left as it is)
 *   else:  sweep temp/; under the index lock, plan again on the index as it is then, and remove what the plan
 *          removes, crash-safely (remove.ts)
 *
 * The plan applied is always computed under the lock on the current index, so a backup created between a dry run
 * and the real run is planned like any other, never removed by a stale plan.
 *
 * Schedules: `scheduleId` restricts the plan to the backups that schedule made (origin.scheduleId); every other
 * backup is passed to the policy as context only (chains are followed through it) and is never removed. That is
 * `applyRetention`, which the scheduler calls after each run with the schedule's own retention.
 */
import type { BackupOrigin, BackupRecord, BackupType } from '../metadata/record.js';
import { readIndex } from '../metadata/store.js';
import type { Platform } from '../platform/types.js';
import { backupLayout } from '../repository/layout.js';
import { sweepTemp } from '../repository/workspace.js';
import { exists } from '../fsutil/safe-write.js';
import { DEFAULT_RETENTION, planRetention, type RetentionPolicy } from '../retention/policy.js';
import { forgetCachedManifests, removeBackups } from './remove.js';

export interface CleanupOptions {
  /** Keep the N newest backups; default platform.yaml's backup.retention.keep, else 10. */
  keep?: number;
  /** Remove backups older than D days; default platform.yaml's backup.retention.days, else 30. */
  days?: number;
  /** Plan only: report what would be removed and change nothing. */
  dryRun?: boolean;
  /** Only the backups this schedule made are planned (and may be removed); the rest of the index is left alone. */
  scheduleId?: string;
  /** Clock, for tests. */
  now?: () => Date;
  signal?: AbortSignal;
}

export interface CleanupDecision {
  id: string;
  type: BackupType;
  createdAt: string;
  /** Bytes of the archive. */
  size: number;
  origin: BackupOrigin;
  parent?: string;
  action: 'keep' | 'remove';
  /** Why, for people: never empty. */
  reasons: string[];
}

export interface CleanupResult {
  dryRun: boolean;
  policy: RetentionPolicy;
  /** Set when the plan covered one schedule's backups only. */
  scheduleId?: string;
  /** One per backup planned, newest first. */
  decisions: CleanupDecision[];
  /** Ids kept, and removed (or, in a dry run, that would be removed). */
  kept: string[];
  removed: string[];
  /** Archive bytes removed (or that would be). */
  freedBytes: number;
  /** Files an earlier, interrupted removal had left, deleted now. */
  finishedFiles: string[];
  /** Things the user should know: files left in place, and why. */
  warnings: string[];
}

/** The policy a cleanup applies: the options, then platform.yaml's backup.retention, then the defaults (10, 30). */
export function resolvePolicy(platform: Platform, options: { keep?: number; days?: number }): RetentionPolicy {
  return {
    keep: options.keep ?? platform.defaults.retention?.keep ?? DEFAULT_RETENTION.keep,
    days: options.days ?? platform.defaults.retention?.days ?? DEFAULT_RETENTION.days,
  };
}

function isFromSchedule(record: BackupRecord, scheduleId: string): boolean {
  return record.origin.kind === 'schedule' && record.origin.scheduleId === scheduleId;
}

/** The pure part: which backups are planned, and the plan, joined with what the report shows of each. */
export function planCleanup(
  records: readonly BackupRecord[],
  policy: RetentionPolicy,
  now: Date,
  scheduleId?: string,
): Pick<CleanupResult, 'decisions' | 'kept' | 'removed' | 'freedBytes'> {
  const planned = scheduleId === undefined ? records : records.filter((r) => isFromSchedule(r, scheduleId));
  const others = scheduleId === undefined ? [] : records.filter((r) => !isFromSchedule(r, scheduleId));
  const plan = planRetention(planned, policy, now, { others });
  const byId = new Map(records.map((r) => [r.id, r]));
  const decisions = plan.decisions.map((d): CleanupDecision => {
    const r = byId.get(d.id)!;
    return {
      id: r.id,
      type: r.type,
      createdAt: r.createdAt,
      size: r.size,
      origin: r.origin,
      ...(r.parent !== undefined && { parent: r.parent }),
      action: d.action,
      reasons: d.reasons,
    };
  });
  return {
    decisions,
    kept: plan.keep,
    removed: plan.remove,
    freedBytes: plan.remove.reduce((n, id) => n + (byId.get(id)?.size ?? 0), 0),
  };
}

export async function cleanupBackups(platform: Platform, options: CleanupOptions = {}): Promise<CleanupResult> {
  const policy = resolvePolicy(platform, options);
  const now = options.now?.() ?? new Date();
  const layout = backupLayout(platform.backupDir);
  const base = {
    dryRun: options.dryRun === true,
    policy,
    ...(options.scheduleId !== undefined && { scheduleId: options.scheduleId }),
  };
  const nothingElse = { finishedFiles: [] as string[], warnings: [] as string[] };
  if (options.dryRun) {
    const { backups } = await readIndex(layout);
    return { ...base, ...planCleanup(backups, policy, now, options.scheduleId), ...nothingElse };
  }
  if (!(await exists(layout.root))) {
    // No backup directory: nothing to remove, and nothing is created.
    return { ...base, ...planCleanup([], policy, now), ...nothingElse };
  }
  await sweepTemp(layout);
  const outcome = await removeBackups(
    layout,
    (records) => {
      const planned = planCleanup(records, policy, now, options.scheduleId);
      return { remove: planned.removed, result: planned };
    },
    options.signal ? { signal: options.signal } : {},
  );
  await forgetCachedManifests(platform.root, outcome.removed);
  return {
    ...base,
    ...outcome.result,
    finishedFiles: outcome.finishedFiles,
    warnings: outcome.leftFiles.map((l) => `${l.file}: ${l.reason}`),
  };
}

export interface ApplyRetentionOptions {
  /** The schedule whose backups are planned; only those may be removed. */
  scheduleId: string;
  /** The schedule's retention; a member left out comes from platform.yaml's backup.retention, else 10 and 30. */
  policy?: Partial<RetentionPolicy>;
  now?: () => Date;
  signal?: AbortSignal;
}

/**
 * A schedule's retention, for the scheduler to call after each successful run: plans only the backups that
 * schedule made, and removes what its policy removes. Resolves with `removed`, the ids removed.
 */
export function applyRetention(target: { platform: Platform }, options: ApplyRetentionOptions): Promise<CleanupResult> {
  return cleanupBackups(target.platform, {
    ...(options.policy?.keep !== undefined && { keep: options.policy.keep }),
    ...(options.policy?.days !== undefined && { days: options.policy.days }),
    scheduleId: options.scheduleId,
    ...(options.now && { now: options.now }),
    ...(options.signal && { signal: options.signal }),
  });
}
