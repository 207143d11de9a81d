/**
 * A command's private staging folder under temp/, marked alive by a lease. Any later command can tell a live
 * workspace from the leftovers of a killed one (`sweepTemp`), so temp/ never fills up with dead staging data and
 * never loses the files of a command still running.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../fsutil/safe-write.js';
import { acquireLease, isLeaseAlive, leaseOwnerPathOf, leasePathOf, type HeldLock } from '../lock/lock.js';
import type { BackupLayout } from './layout.js';
import { settleInterruptedRestore } from '../restore/swap.js';

export interface Workspace {
  readonly dir: string;
  /** Removes the folder and releases the lease. Safe to call twice. */
  dispose(): Promise<void>;
}

export async function openWorkspace(layout: BackupLayout, purpose: string): Promise<Workspace> {
  await ensurePrivateDir(layout.temp);
  const dir = path.join(layout.temp, `${purpose}-${process.pid}-${randomBytes(4).toString('hex')}`);
  // The lease comes first, so a concurrent sweep never sees the folder without a live lease.
  let lease: HeldLock | undefined = await acquireLease(dir, { nameIsOurs: true });
  if (!lease) throw new Error(`could not take the lease on ${dir}`);
  await ensurePrivateDir(dir);
  return {
    dir,
    dispose: async () => {
      await fs.rm(dir, { recursive: true, force: true });
      await lease?.release();
      lease = undefined;
    },
  };
}

const LEASE_FILES = ['.lease', '.owner'];

/** Removes what killed commands left in temp/. Returns the names removed. */
export async function sweepTemp(layout: BackupLayout): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(layout.temp);
  } catch {
    return [];
  }
  // Each workspace is a folder with a lease lock and an owner record beside it; any of the three may be left alone
  // by a kill between their creation or removal.
  const workspaces = new Set(names.map((name) => LEASE_FILES.reduce((n, suffix) => (n.endsWith(suffix) ? n.slice(0, -suffix.length) : n), name)));
  const removed: string[] = [];
  for (const name of workspaces) {
    const dir = path.join(layout.temp, name);
    if (await isLeaseAlive(dir)) continue;
    // A restore interrupted mid-swap keeps old files here: put them back (or finish the swap) before removing it.
    if (!(await settleInterruptedRestore(dir))) continue;
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(leasePathOf(dir), { recursive: true, force: true });
    await fs.rm(leaseOwnerPathOf(dir), { force: true });
    if (names.includes(name)) removed.push(name);
  }
  return removed;
}
