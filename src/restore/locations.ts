/**
 * Where a restore stages each path. A staged tree is renamed into place and the live path renamed aside, so both
 * must be on the live path's filesystem (and mount: Linux refuses a rename across two mounts of one filesystem).
 * A path is staged in the restore's workspace in `backup/temp/` when both are on one device; otherwise in a sibling
 * folder next to it, `<parent>/.mcp-restore-<workspace>-<n>/`, which the journal lists before it is created, so
 * recovery removes it. Nothing live is touched before the swap: right before it, a probe rename from the workspace
 * into the parent checks the mount too, and a tree that cannot be renamed there (EXDEV between two mounts of one
 * filesystem) is copied to a sibling folder first.
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
import { isInside } from './safety.js';
import type { BackupState } from '../archive/state.js';
import { SCRATCH_PREFIX, metaOf, saveJournal, type FolderFix, type Journal, type SwapPath } from './swap.js';
import { carryOver, pathExists, removeTree } from './tree-ops.js';

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
  let lease: HeldLock | undefined = await acquireLease(dir, { nameIsOurs: true });
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
  /** The sibling staging folder, when the path is staged next to its live path (or inside it). */
  sibling?: string;
  /** The path is a mount point: staged inside it, its children swapped one by one. */
  contents?: boolean;
}

/** The device of `p`, or of its nearest existing ancestor (a parent folder may be missing: a lost disk, a target). */
function deviceOf(p: string): number {
  for (let dir = p; ; dir = path.dirname(dir)) {
    try {
      return fs.statSync(dir).dev;
    } catch (error) {
      if (path.dirname(dir) === dir) throw ioError('reading', p, error);
    }
  }
}

function siblingOf(workspace: string, live: string, n: number): string {
  return path.join(path.dirname(live), `${SCRATCH_PREFIX}${path.basename(workspace)}-${n}`);
}

function makeParent(live: string, toTarget: boolean): void {
  try {
    // A missing parent (a lost disk, a new target) is created like `mkdir -p`; under --target, private.
    fs.mkdirSync(path.dirname(live), { recursive: true, ...(toTarget && { mode: 0o700 }) });
  } catch (error) {
    throw ioError('creating the folder', path.dirname(live), error);
  }
}

/** Whether `p` is a mount point: its own device, or listed in /proc/self/mountinfo (a bind mount shares one). */
export function isMountPoint(p: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return false;
  }
  if (real === path.parse(real).root) return true;
  if (fs.statSync(real).dev !== fs.statSync(path.dirname(real)).dev) return true;
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mountPoint = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
      if (mountPoint === real) return true;
    }
  } catch {
    // No /proc: the device check above is all there is.
  }
  return false;
}

function isDirectory(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Chooses a staging place for each root without touching anything live: the workspace when it is on the same
 * device as the root's parent, else a sibling folder; and for a root that is a mount point (which cannot be renamed),
 * a scratch folder inside it, its children being swapped one by one. Every path created outside temp/ is recorded
 * in the journal first, with the mtime of the folder it is created in.
 */
export async function placeStaging(
  workspace: string,
  journal: Journal,
  roots: readonly RestoreRoot[],
  state: BackupState,
  toTarget: boolean,
): Promise<PathLocation[]> {
  const here = fs.statSync(workspace).dev;
  const tag = `${SCRATCH_PREFIX}${path.basename(workspace)}`;
  const decisions = roots.map((root, i) => {
    const live = root.destination;
    if (pathExists(live) && isMountPoint(live)) {
      if (!isDirectory(live) || state.get(root.archiveRoot)?.type !== 'dir') {
        throw new BackupError('USAGE', `${live} is a mount point and ${isDirectory(live) ? 'the backup holds no folder there' : 'not a folder'}: restore it with --target DIR and copy it back by hand`, {
          destination: live,
        });
      }
      return { kind: 'contents' as const, scratch: path.join(live, `${tag}-${i}`), folder: live };
    }
    if (deviceOf(path.dirname(live)) !== here) return { kind: 'sibling' as const, scratch: siblingOf(workspace, live, i), folder: path.dirname(live) };
    return { kind: 'workspace' as const };
  });
  decisions.forEach((d, i) => {
    if (d.kind === 'workspace') return;
    journal.scratch.push(d.scratch);
    if (isDirectory(d.folder)) journal.touched.push({ path: d.folder, group: roots[i]!.service, mtimeMs: fs.lstatSync(d.folder).mtimeMs });
  });
  await saveJournal(workspace, journal);
  for (const dir of ['new', 'old']) fs.mkdirSync(path.join(workspace, dir), { mode: 0o700 });
  return roots.map((root, i) => {
    const d = decisions[i]!;
    if (d.kind === 'workspace') return { staged: path.join(workspace, 'new', `r${i}`), aside: path.join(workspace, 'old', `r${i}`) };
    if (d.kind === 'sibling') makeParent(root.destination, toTarget);
    fs.mkdirSync(d.scratch, { mode: 0o700 });
    return { staged: path.join(d.scratch, 'new'), aside: path.join(d.scratch, 'old'), sibling: d.scratch, ...(d.kind === 'contents' && { contents: true }) };
  });
}

/**
 * For a root swapped by its children (a mount point): one swap path per child of the live or the staged folder,
 * and the folder's own metadata before and after.
 */
export function expandContents(p: SwapPath): { paths: SwapPath[]; folder: FolderFix } {
  const names = new Set([...fs.readdirSync(p.live), ...fs.readdirSync(p.staged)].filter((n) => !n.startsWith(SCRATCH_PREFIX)));
  fs.mkdirSync(p.aside, { mode: 0o700 });
  const staged = metaOf(p.staged);
  return {
    paths: [...names].sort().map((n) => ({ live: path.join(p.live, n), staged: path.join(p.staged, n), aside: path.join(p.aside, n) })),
    folder: { path: p.live, before: metaOf(p.live), after: p.final ? { ...staged, mode: p.final.mode, mtimeMs: p.final.mtimeMs } : staged },
  };
}

function probeRename(from: string, to: string): boolean {
  fs.mkdirSync(from, { mode: 0o700 });
  try {
    fs.renameSync(from, to);
  } catch (error) {
    fs.rmdirSync(from);
    if (errnoCode(error) === 'EXDEV') return false;
    throw ioError('writing in', path.dirname(to), error);
  }
  fs.rmdirSync(to);
  return true;
}

/**
 * Right before a path is swapped: creates its missing parent folders, and checks that its staged tree can be renamed
 * into place. Two mounts of one filesystem share a device number yet refuse renames between them (EXDEV); such a
 * tree is moved (copied) to a sibling folder first. Returns true when it had to.
 */
export async function makeSwappable(workspace: string, journal: Journal, p: SwapPath, n: number, toTarget: boolean): Promise<boolean> {
  makeParent(p.live, toTarget);
  if (!isInside(workspace, p.staged)) return false;
  const sibling = siblingOf(workspace, p.live, n);
  const probe = `${sibling}.probe`;
  journal.scratch.push(probe, sibling);
  await saveJournal(workspace, journal);
  if (probeRename(path.join(workspace, `probe-${n}`), probe)) return false;
  fs.mkdirSync(sibling, { mode: 0o700 });
  const staged = path.join(sibling, 'new');
  carryOver(p.staged, staged, process.getuid?.() === 0);
  const old = p.staged;
  p.staged = staged;
  p.aside = path.join(sibling, 'old');
  await saveJournal(workspace, journal);
  removeTree(old);
  return true;
}
