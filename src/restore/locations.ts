/**
 * Where a restore stages each path. A staged tree is renamed into place and the live path renamed aside, so both
 * must be on the live path's filesystem (and mount: Linux refuses a rename across two mounts of one filesystem).
 * The restore's workspace in `backup/temp/` is used when a probe folder can be renamed from it into the live path's
 * parent and back; otherwise (EXDEV) the path is staged in a sibling folder next to it,
 * `<parent>/.mcp-restore-<workspace>-<n>/`, which the journal lists before it is created, so recovery removes it.
 *
 * The workspace is leased (see lock.ts) like every staging folder in temp/, so a sweep never takes a live
 * restore's files, and a dead restore's workspace is settled (swap.ts) before it is removed.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BackupError, errnoCode, ioError } from '../errors.js';
import { ensurePrivateDir } from '../fsutil/safe-write.js';
import { acquireLease, type HeldLock } from '../lock/lock.js';
import type { BackupLayout } from '../repository/layout.js';
import type { RestoreRoot } from './roots.js';
import { SCRATCH_PREFIX, saveJournal, type Journal } from './swap.js';
import { removeTree } from './tree-ops.js';

export const WORKSPACE_PREFIX = 'restore-';

export interface RestoreWorkspace {
  readonly dir: string;
  /** Removes the workspace and releases its lease. */
  dispose(): Promise<void>;
  /** Releases the lease but keeps the files (they hold old data a failed rollback could not put back). */
  abandon(): Promise<void>;
}

export async function openRestoreWorkspace(layout: BackupLayout): Promise<RestoreWorkspace> {
  await ensurePrivateDir(layout.temp);
  const dir = path.join(layout.temp, `${WORKSPACE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  // The lease comes first, so a concurrent sweep never sees the folder without a live lease.
  let lease: HeldLock | undefined = await acquireLease(dir);
  if (!lease) throw new BackupError('LOCKED', `could not take the lease on ${dir}`);
  await ensurePrivateDir(dir);
  const release = async () => {
    await lease?.release();
    lease = undefined;
  };
  return {
    dir,
    dispose: async () => {
      removeTree(dir);
      await release();
    },
    abandon: release,
  };
}

export interface PathLocation {
  /** Where the new tree is built (does not exist yet). */
  staged: string;
  /** Where the live path is set aside during the swap. */
  aside: string;
  /** The sibling staging folder, when the workspace is on another filesystem. */
  sibling?: string;
}

function sameMount(probe: string, parent: string, name: string): boolean {
  fs.mkdirSync(probe, { mode: 0o700 });
  const there = path.join(parent, name);
  try {
    fs.renameSync(probe, there);
  } catch (error) {
    fs.rmdirSync(probe);
    if (errnoCode(error) === 'EXDEV') return false;
    throw ioError('writing in', parent, error);
  }
  try {
    fs.renameSync(there, probe);
    fs.rmdirSync(probe);
  } finally {
    fs.rmSync(there, { recursive: true, force: true });
  }
  return true;
}

/**
 * Chooses a staging place for each root (creating missing parent folders of the destinations), recording every
 * path it may create outside temp/ in the journal first.
 */
export async function placeStaging(workspace: string, journal: Journal, roots: readonly RestoreRoot[], toTarget: boolean): Promise<PathLocation[]> {
  const tag = `${SCRATCH_PREFIX}${path.basename(workspace)}`;
  const plans = roots.map((root, i) => {
    const parent = path.dirname(root.destination);
    return { root, parent, probe: `${tag}-${i}.probe`, sibling: path.join(parent, `${tag}-${i}`) };
  });
  for (const p of plans) journal.scratch.push(path.join(p.parent, p.probe), p.sibling);
  await saveJournal(workspace, journal);

  for (const dir of ['new', 'old']) fs.mkdirSync(path.join(workspace, dir), { mode: 0o700 });
  const locations: PathLocation[] = [];
  for (const [i, p] of plans.entries()) {
    try {
      // A missing parent (a lost disk, a new target): created like `mkdir -p`; under --target, private.
      fs.mkdirSync(p.parent, { recursive: true, ...(toTarget && { mode: 0o700 }) });
    } catch (error) {
      throw ioError('creating the folder', p.parent, error);
    }
    if (sameMount(path.join(workspace, `probe-${i}`), p.parent, p.probe)) {
      locations.push({ staged: path.join(workspace, 'new', `r${i}`), aside: path.join(workspace, 'old', `r${i}`) });
    } else {
      fs.mkdirSync(p.sibling, { mode: 0o700 });
      locations.push({ staged: path.join(p.sibling, 'new'), aside: path.join(p.sibling, 'old'), sibling: p.sibling });
    }
  }
  return locations;
}
