/**
 * Restoring a backup. The algorithm, in the order nothing-is-changed-until-everything-is-checked requires:
 *
 *   load the index, the backup's chain (base full -> incrementals) and each manifest (checksummed copies);
 *   fold the manifests into the state; refuse unsafe paths, roots, parents and links (safety.ts);
 *   map the chosen roots to disk (roots.ts); scan what is there, metadata only (disk.ts); plan (plan.ts)
 *     -- all of this read-only, in prepare.ts
 *   --dry-run: return the plan; nothing was written, not even temp/ or a lock
 *   take the restore lock; settle any interrupted restore (recovery.ts, swap.ts); ask `confirm` with the plan
 *   stage every root in temp/ (or beside it, on another filesystem: locations.ts), streaming each archive once and
 *     checking every file's SHA-256 and every archive's (stage.ts); flush the staged data to disk
 *   in place: a safety backup of what exists now of the chosen paths (safety-backup.ts; its id is in the result)
 *   per service: pre_restore hook -> carry kept paths in -> swap (journaled) -> post_restore hook (always)
 *   platform.yaml last; remove the workspace.
 *
 * A failing pre_restore hook skips its service (nothing changed there) and the others go on; a failing swap is
 * rolled back and stops the restore. Either way the call ends with a BackupError that names what was restored
 * and what was not, with the result in its details.
 */
import path from 'node:path';
import type { OperationObserver } from '../backup/progress.js';
import type { DecryptionKey } from '../crypto/index.js';
import { BackupError, isBackupError } from '../errors.js';
import { runHook } from '../hooks/run-hook.js';
import type { Platform } from '../platform/types.js';
import { backupLayout, ensureLayout } from '../repository/layout.js';
import type { ArchiveStorage } from '../storage/storage.js';
import { expandContents, makeSwappable, openRestoreWorkspace, placeStaging, type RestoreWorkspace } from './locations.js';
import type { RestorePlan, ServicePlan } from './plan.js';
import { prepare, resolveChain } from './prepare.js';
import { acquireRestoreLock, interruptedRestores, recoverInterrupted } from './recovery.js';
import { PLATFORM_SERVICE } from './roots.js';
import { takeSafetyBackup } from './safety-backup.js';
import { carryKept, stageRoots } from './stage.js';
import { newJournal, readJournal, saveJournal, settleJournal, swapGroup, type SwapGroup, type SwapPath } from './swap.js';
import { flushFilesystems, pathExists } from './tree-ops.js';

export interface RestoreOptions extends OperationObserver {
  /** Backup id or unique prefix. */
  id: string;
  /** Restore only these services (never touching the others); default: every service the backup holds, and
   *  platform.yaml when the backup has it. */
  services?: string[];
  /** Absolute folder to restore into, as `<target>/<service>/<part>/<name>`, instead of in place. The live
   *  platform is not touched and no hooks run. */
  target?: string;
  /** Plan only: read the index, the manifests and the disk's metadata, write nothing at all. */
  dryRun?: boolean;
  /** Opens encrypted backups (identities or passphrase). A dry run without it plans from this host's cached
   *  manifests when it has them. */
  key?: DecryptionKey;
  /** In place, back up what will be replaced first. Default true. The safety backup is encrypted to platform.yaml's
   *  recipients when it names some, else like the restored backup: with the passphrase of `key`, or to the public
   *  keys of its identities. */
  safetyBackup?: boolean;
  /** Asked with the plan before anything is written; false cancels. The library never prompts by itself. */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  /** Called at each step (`staged`, `aside:<name>`, `swapped-path:<service>:<n>`, `committed:<service>`, `done`);
   *  may return a promise to hold the restore there (tests kill the process at a chosen instant this way). */
  onStep?: (step: string) => void | Promise<void>;
  signal?: AbortSignal;
}

export type ServiceStatus = 'restored' | 'skipped' | 'failed';

export interface ServiceOutcome {
  service: string;
  status: ServiceStatus;
  /** Why it failed or was skipped. */
  error?: string;
  /** A post_restore hook that failed after the service was restored. */
  hookError?: string;
  created: number;
  overwritten: number;
  deleted: number;
  unchanged: number;
  kept: number;
  files: number;
  bytes: number;
}

export interface RestoreResult {
  backupId: string;
  plan: RestorePlan;
  dryRun: boolean;
  /** `confirm` said no: nothing was changed. */
  cancelled: boolean;
  /** The safety backup taken before an in-place restore. */
  safetyBackupId?: string;
  /** Why no safety backup was taken, when one would have been. */
  safetyBackupSkipped?: string;
  services: ServiceOutcome[];
  /** Files written (every file of the restored state is written anew) and their bytes. */
  files: number;
  bytes: number;
  created: number;
  overwritten: number;
  deleted: number;
  durationMs: number;
  /** Dry run: workspaces of interrupted restores that the next restore or backup will settle. */
  pendingRecovery?: string[];
}

function outcomeOf(plan: ServicePlan, status: ServiceStatus, error?: string): ServiceOutcome {
  return {
    service: plan.service,
    status,
    ...(error !== undefined && { error }),
    created: plan.createCount,
    overwritten: plan.overwrite.length,
    deleted: plan.delete.length,
    unchanged: plan.unchanged,
    kept: plan.kept,
    files: plan.files,
    bytes: plan.bytes,
  };
}

function summarise(result: RestoreResult): void {
  for (const s of result.services) {
    if (s.status !== 'restored') continue;
    result.files += s.files;
    result.bytes += s.bytes;
    result.created += s.created;
    result.overwritten += s.overwritten;
    result.deleted += s.deleted;
  }
}

export async function restoreBackup(platform: Platform, storage: ArchiveStorage, options: RestoreOptions): Promise<RestoreResult> {
  const startedAt = Date.now();
  const layout = backupLayout(platform.backupDir);
  const asRoot = process.getuid?.() === 0;
  if (options.target !== undefined && !path.isAbsolute(options.target)) {
    throw new BackupError('USAGE', `the restore target must be an absolute path, got ${options.target}`);
  }
  const empty = (plan: RestorePlan, rest: Partial<RestoreResult>): RestoreResult => ({
    backupId: plan.backupId,
    plan,
    dryRun: false,
    cancelled: false,
    services: [],
    files: 0,
    bytes: 0,
    created: 0,
    overwritten: 0,
    deleted: 0,
    durationMs: Date.now() - startedAt,
    ...rest,
  });

  if (options.dryRun) {
    const prepared = await prepare(platform, storage, layout, options, asRoot);
    const pending = await interruptedRestores(layout);
    return empty(prepared.plan, { dryRun: true, ...(pending.length > 0 && { pendingRecovery: pending }) });
  }

  // What can be refused from the index alone is refused before anything is written (even the lock).
  await resolveChain(layout, options);
  for (const warning of await ensureLayout(layout)) options.onWarning?.(warning);
  const lock = await acquireRestoreLock(layout);
  let workspace: RestoreWorkspace | undefined;
  let keepWorkspace = false;
  try {
    await recoverInterrupted(layout, (message) => options.onWarning?.(message));
    const prepared = await prepare(platform, storage, layout, options, asRoot);
    // The destination's scan is garbage now: over a tree of 71,000 entries, about 50 MB of heap that V8 kept until its
    // next full collection, under the memory the archive's stream then takes. (bin/mcp.js runs node with --expose-gc.)
    (globalThis as { gc?: () => void }).gc?.();
    const { plan, selected } = prepared;
    if (options.confirm && !(await options.confirm(plan))) return empty(plan, { cancelled: true });

    // Stage everything, checking every archive and file, before anything live is touched.
    workspace = await openRestoreWorkspace(layout);
    const journal = newJournal(prepared.record.id);
    const locations = await placeStaging(workspace.dir, journal, selected.roots, prepared.state, options.target !== undefined);
    const groups = new Map<string, SwapGroup>();
    const swapPaths: SwapPath[] = selected.roots.map((root, i) => ({ live: root.destination, staged: locations[i]!.staged, aside: locations[i]!.aside }));
    selected.roots.forEach((root, i) => {
      let group = groups.get(root.service);
      if (!group) groups.set(root.service, (group = { name: root.service, status: 'staged', paths: [] }));
      group.paths.push(swapPaths[i]!);
    });
    journal.groups = [...groups.values()];
    await saveJournal(workspace.dir, journal);
    const staged = await stageRoots(
      storage,
      prepared.chain,
      prepared.state,
      selected.roots.map((root, i) => ({ root, staged: locations[i]!.staged })),
      { ...options, asRoot },
    );
    for (const group of journal.groups) {
      for (const p of group.paths) {
        const final = staged.deferred.get(p.staged);
        if (final) p.final = final;
      }
    }
    await saveJournal(workspace.dir, journal);
    // Only the filesystems that hold staged trees: flushing one means all its dirty data, anyone's (the journal is
    // written durably by itself), and temp/'s filesystem holds nothing staged when every path is staged beside it.
    const workspaceDir = workspace.dir;
    const flushed = await flushFilesystems([...new Set(locations.map((l) => l.sibling ?? workspaceDir))]);
    if (!flushed) options.onWarning?.('could not flush the staged files to disk (no `sync` command): a power cut during the restore could lose them');
    await options.onStep?.('staged');

    const result = empty(plan, {});
    if (options.target === undefined && options.safetyBackup !== false) {
      options.signal?.throwIfAborted();
      const safety = await takeSafetyBackup(platform, prepared, options);
      if (safety.id) result.safetyBackupId = safety.id;
      if (safety.skipped) result.safetyBackupSkipped = safety.skipped;
    }

    // Service by service; platform.yaml last.
    const failures: BackupError[] = [];
    let stopped: BackupError | undefined;
    const asBackupError = (error: unknown, what: string) =>
      isBackupError(error) ? error : new BackupError('IO', `${what} failed: ${(error as Error).message}`, {}, { cause: error });
    for (const servicePlan of plan.services) {
      const name = servicePlan.service;
      if (stopped || options.signal?.aborted) {
        result.services.push(outcomeOf(servicePlan, 'skipped', stopped ? 'not restored: the restore stopped before it' : 'not restored: interrupted'));
        continue;
      }
      const service = options.target === undefined ? platform.services.find((s) => s.name === name) : undefined;
      const hookEnv = { MCP_BACKUP_ID: prepared.record.id };
      let outcome: ServiceOutcome | undefined;
      const preHook = service?.hooks.pre_restore;
      if (preHook) {
        await runHook({ root: platform.root, service: name, hook: 'pre_restore', command: preHook, env: hookEnv }).catch((error: unknown) => {
          const failure = asBackupError(error, `pre_restore hook of ${name}`);
          failures.push(failure);
          outcome = outcomeOf(servicePlan, 'failed', failure.message);
        });
      }
      if (!outcome) {
        try {
          for (const [i, root] of selected.roots.entries()) {
            if (root.service !== name) continue;
            if (await makeSwappable(workspace.dir, journal, swapPaths[i]!, i, options.target !== undefined)) {
              options.onWarning?.(`${root.destination} is on another mount than ${layout.temp}: its restored files were copied beside it to be swapped in`);
            }
            if (pathExists(root.destination)) carryKept(root, swapPaths[i]!.staged, prepared.state, asRoot);
            if (locations[i]!.contents) {
              // A mount point: its children are swapped, not the folder itself.
              const group = groups.get(name)!;
              const { paths, folder } = expandContents(swapPaths[i]!);
              group.paths.splice(group.paths.indexOf(swapPaths[i]!), 1, ...paths);
              (group.folders ??= []).push(folder);
            }
          }
          await swapGroup(workspace.dir, journal, groups.get(name)!, { asRoot, onStep: (step) => options.onStep?.(step) });
          outcome = outcomeOf(servicePlan, 'restored');
        } catch (error) {
          if (isBackupError(error) && error.details.keepWorkspace) keepWorkspace = true;
          stopped = asBackupError(error, `restoring ${name}`);
          failures.push(stopped);
          outcome = outcomeOf(servicePlan, 'failed', stopped.message);
        }
      }
      const postHook = service?.hooks.post_restore;
      if (postHook) {
        // Runs whatever happened above: the service was stopped for the restore and must be started again.
        await runHook({ root: platform.root, service: name, hook: 'post_restore', command: postHook, env: hookEnv }).catch((error: unknown) => {
          const failure = asBackupError(error, `post_restore hook of ${name}`);
          failures.push(failure);
          outcome!.hookError = failure.message;
        });
      }
      result.services.push(outcome);
    }
    await options.onStep?.('done');
    summarise(result);
    result.durationMs = Date.now() - startedAt;

    if (failures.length > 0) {
      const label = (s: ServiceOutcome) => (s.service === PLATFORM_SERVICE ? 'platform.yaml' : s.service);
      const restored = result.services.filter((s) => s.status === 'restored').map(label);
      const notRestored = result.services.filter((s) => s.status !== 'restored').map(label);
      const safety = result.safetyBackupId ? `; safety backup ${result.safetyBackupId}` : '';
      throw new BackupError(
        failures[0]!.code,
        `restore of backup ${prepared.record.id} did not complete: ${failures.map((f) => f.message).join('; ')} (restored: ${restored.join(', ') || 'nothing'}; not restored: ${notRestored.join(', ') || 'none'}${safety})`,
        { result },
      );
    }
    return result;
  } catch (error) {
    if (options.signal?.aborted && !isBackupError(error)) {
      throw new BackupError('ABORTED', 'restore interrupted before anything was changed', {}, { cause: error });
    }
    throw error;
  } finally {
    if (workspace) {
      if (keepWorkspace) await workspace.abandon();
      else {
        // Whatever was staged and not swapped goes, with any sibling staging folder outside temp/.
        try {
          const journal = await readJournal(workspace.dir);
          if (journal) settleJournal(journal);
          await workspace.dispose();
        } catch (error) {
          options.onWarning?.(`could not clean up ${workspace.dir} (${(error as Error).message}); the next command will`);
          await workspace.abandon();
        }
      }
    }
    await lock.release();
  }
}
