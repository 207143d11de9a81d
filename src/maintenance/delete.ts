/**
 * `delete ID`: removes one backup (id or unique prefix), plan then apply.
 *
 *   plan (pure, on the index): the backup, and every backup that builds on it (its dependents, transitively)
 *     dependents and no --with-dependents: refuse (HAS_DEPENDENTS), naming them and the two ways forward
 *     else: remove the backup and its dependents; name each scope (services and parts) left with no restorable
 *           backup at all: delete is explicit, so it may remove the last way back, but it says so
 *   dry run: the plan, from the index alone
 *   else: sweep temp/; under the index lock, plan again on the current index and remove crash-safely (remove.ts)
 */
import { BackupError } from '../errors.js';
import { resolveBackupId } from '../metadata/ids.js';
import type { BackupRecord } from '../metadata/record.js';
import { readIndex } from '../metadata/store.js';
import type { Platform } from '../platform/types.js';
import { backupLayout } from '../repository/layout.js';
import { sweepTemp } from '../repository/workspace.js';
import { dependentsOf, scopesLeftWithoutBackup } from './chains.js';
import { forgetCachedManifests, removeBackups } from './remove.js';

export interface DeleteOptions {
  /** Also delete every backup that builds on this one; without it, a backup with dependents is not deleted. */
  withDependents?: boolean;
  /** Plan only: report what would be deleted and change nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface DeleteResult {
  dryRun: boolean;
  /** The backup asked for (its full id). */
  id: string;
  /** Every backup deleted (or that would be): the one asked for, then its dependents, oldest first. */
  removed: BackupRecord[];
  /** Archive bytes removed (or that would be). */
  freedBytes: number;
  /** Scopes (services and parts) that no restorable backup covers any more. */
  lastOfScope: string[];
  /** Files an earlier, interrupted removal had left, deleted now. */
  finishedFiles: string[];
  /** Things the user should know: the last way back removed, files left in place. */
  warnings: string[];
}

type DeletePlan = Pick<DeleteResult, 'id' | 'removed' | 'freedBytes' | 'lastOfScope' | 'warnings'>;

/** The pure part: what deleting `query` removes, or a refusal. */
export function planDelete(records: readonly BackupRecord[], query: string, withDependents: boolean): DeletePlan {
  const target = resolveBackupId(records, query);
  const dependents = dependentsOf(records, target.id);
  if (dependents.length > 0 && !withDependents) {
    const ids = dependents.map((d) => d.id);
    const shown = ids.length > 10 ? `${ids.slice(0, 10).join(', ')} and ${ids.length - 10} more` : ids.join(', ');
    throw new BackupError(
      'HAS_DEPENDENTS',
      `backup ${target.id} is needed to restore ${ids.length} later backup${ids.length > 1 ? 's' : ''} that build${ids.length > 1 ? '' : 's'} on it: ${shown}; ` +
        `delete ${ids.length > 1 ? 'them' : 'it'} first, or pass --with-dependents to delete ${ids.length > 1 ? 'all of them' : 'both'}`,
      { id: target.id, dependents: ids },
    );
  }
  const removed = [target, ...dependents];
  const ids = new Set(removed.map((r) => r.id));
  const lastOfScope = scopesLeftWithoutBackup(records, records.filter((r) => !ids.has(r.id)));
  return {
    id: target.id,
    removed,
    freedBytes: removed.reduce((n, r) => n + r.size, 0),
    lastOfScope,
    warnings: lastOfScope.map((scope) => `no restorable backup of ${scope} is left`),
  };
}

export async function deleteBackup(platform: Platform, query: string, options: DeleteOptions = {}): Promise<DeleteResult> {
  const layout = backupLayout(platform.backupDir);
  const withDependents = options.withDependents === true;
  if (options.dryRun) {
    const { backups } = await readIndex(layout);
    return { dryRun: true, ...planDelete(backups, query, withDependents), finishedFiles: [] };
  }
  // Plan once before anything is written, so a wrong id or a refusal changes nothing (not even temp/ or the lock).
  planDelete((await readIndex(layout)).backups, query, withDependents);
  await sweepTemp(layout);
  const outcome = await removeBackups(
    layout,
    (records) => {
      const plan = planDelete(records, query, withDependents);
      return { remove: plan.removed.map((r) => r.id), result: plan };
    },
    options.signal ? { signal: options.signal } : {},
  );
  await forgetCachedManifests(platform.root, outcome.removed);
  const plan = outcome.result;
  return {
    dryRun: false,
    ...plan,
    finishedFiles: outcome.finishedFiles,
    warnings: [...plan.warnings, ...outcome.leftFiles.map((l) => `${l.file}: ${l.reason}`)],
  };
}
