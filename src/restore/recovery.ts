/**
 * One restore at a time, and the settling of restores that were interrupted. The lock is a lease on
 * `backup/temp/.restore` (lock.ts): it dies with its process, so a killed restore never blocks the next one, and any
 * sweep of temp/ removes a dead one. An interrupted restore's workspace holds its journal (swap.ts); settling it rolls
 * each service back or forward, and the sweep then removes the workspace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BackupError } from '../errors.js';
import { acquireLease, isLeaseAlive, leaseOwner, leaseOwnerPathOf, leasePathOf, STALE_MS, type HeldLock } from '../lock/lock.js';
import type { BackupLayout } from '../repository/layout.js';
import { sweepTemp } from '../repository/workspace.js';
import { WORKSPACE_PREFIX } from './locations.js';
import { JOURNAL_FILE, readJournal, settleJournal } from './swap.js';
import { pathExists } from './tree-ops.js';

const RESTORE_LOCK = '.restore';
const LOCK_WAIT_MS = 10_000;
const LOCK_WAIT_MARGIN_MS = 2_000;

/**
 * One restore at a time per platform: a lease on `temp/.restore` (lock.ts), so a restore that was killed does not
 * block the next one (its lease is dead as soon as its process is gone), and any command's sweep of temp/ removes
 * a dead one.
 */
export async function acquireRestoreLock(layout: BackupLayout): Promise<HeldLock> {
  const base = path.join(layout.temp, RESTORE_LOCK);
  const start = Date.now();
  for (;;) {
    const held = await acquireLease(base);
    if (held) return held;
    if (!(await isLeaseAlive(base))) {
      // Left by a killed restore: take it over.
      await fs.promises.rm(leasePathOf(base), { recursive: true, force: true });
      await fs.promises.rm(leaseOwnerPathOf(base), { force: true });
      continue;
    }
    const waited = Date.now() - start;
    // A holder killed between taking the lock and recording itself left a lock without an owner: only the lock's
    // freshness tells it from a live one, and it goes stale within STALE_MS of being taken. Wait that out rather than
    // refuse, so a killed restore never blocks the next one.
    const owner = waited >= LOCK_WAIT_MS ? await leaseOwner(base) : undefined;
    if (waited >= LOCK_WAIT_MS && (owner || waited >= STALE_MS + LOCK_WAIT_MARGIN_MS)) {
      throw new BackupError(
        'LOCKED',
        `another restore is running on this platform${owner ? ` (process ${owner.pid})` : ''}: retry when it has finished`,
        { lockPath: leasePathOf(base) },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Workspaces of restores whose process is gone and whose journal still has to be settled. */
export async function interruptedRestores(layout: BackupLayout): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.promises.readdir(layout.temp);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of names) {
    if (!name.startsWith(WORKSPACE_PREFIX) || name.includes('.')) continue; // Not the .lease/.owner beside it.
    const dir = path.join(layout.temp, name);
    if (!(await isLeaseAlive(dir)) && pathExists(path.join(dir, JOURNAL_FILE))) found.push(dir);
  }
  return found;
}

/** Settles every interrupted restore, saying clearly which one could not be and why. */
export async function recoverInterrupted(layout: BackupLayout, onWarning?: (message: string) => void): Promise<void> {
  for (const dir of await interruptedRestores(layout)) {
    const journal = await readJournal(dir);
    if (!journal) continue;
    try {
      settleJournal(journal);
    } catch (error) {
      throw new BackupError(
        'IO',
        `an interrupted restore of backup ${journal.backupId} left ${dir}, which could not be put in order: ${(error as Error).message}`,
        { workspace: dir },
      );
    }
    onWarning?.(`finished cleaning up an interrupted restore of backup ${journal.backupId}: every path it touched is either as it was or fully restored`);
  }
  await sweepTemp(layout);
}

/** True while a restore holds the platform: a backup taken now would catch it half-done. */
export function isRestoreRunning(layout: BackupLayout): Promise<boolean> {
  return isLeaseAlive(path.join(layout.temp, RESTORE_LOCK));
}
