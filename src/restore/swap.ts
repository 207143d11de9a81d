/**
 * Swapping staged trees into place, so that a crash, kill or error at any instant leaves each path either as it was
 * or fully restored. A journal (`journal.json` in the restore's workspace, written atomically) records, per group
 * of paths (one service; platform.yaml on its own), where each live path (L), its staged tree (S) and its set-aside
 * old copy (A) are, and how far the group got:
 *
 *   staged    nothing moved yet
 *   swapping  moves under way                  -> recovery rolls back (L gets its old content again)
 *   swapped   every L holds its new tree       -> recovery rolls forward (removes every A)
 *   done      old copies removed
 *
 * Per path: a folder (or a change of type) takes two renames, L -> A then S -> L, with L absent for the instant
 * between them; a file or symlink replacing a file or symlink is hard-linked aside (L -> A) and then replaced by
 * one atomic rename (S -> L), so it is never absent. A, S and L are always on one filesystem (see locations.ts),
 * so every move is a rename. Which of A, S, L exist tells recovery exactly which step a path reached, so rolling
 * back and forward are idempotent: recovery interrupted in turn is finished by the next one.
 *
 * Recovery runs when a later command sweeps temp/ (`settleInterruptedRestore`, called from sweepTemp for a
 * workspace whose process is gone) and at the start of every restore.
 */
import { promises as fsp } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import { BackupError, errnoCode } from '../errors.js';
import { fsyncDir, writeFileSafely } from '../fsutil/safe-write.js';
import { pathExists, removeTree } from './tree-ops.js';

export const JOURNAL_FILE = 'journal.json';
/** Every path a restore creates outside temp/ starts with this, so recovery never removes anything else. */
export const SCRATCH_PREFIX = '.mcp-restore-';
const JOURNAL_FORMAT = 'mcp-restore-journal';

export interface SwapPath {
  live: string;
  staged: string;
  aside: string;
  /** Whether L existed when the swap began (decided then). */
  existed?: boolean;
  /** `replace`: L hard-linked to A, then S renamed over L. `exchange`: L renamed to A, then S to L. */
  method?: 'replace' | 'exchange';
  /** Recorded mode and mtime of a staged root folder left writable for the move (not running as root). */
  final?: { mode: number; mtimeMs: number };
  /** Mode of a live folder made writable to move it aside (not running as root); put back on rollback. */
  liveMode?: number;
}

export type GroupStatus = 'staged' | 'swapping' | 'swapped' | 'done';

/** Owner, mode and mtime of a folder. */
export interface FolderMeta {
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

/**
 * A folder whose children are swapped one by one instead of the folder itself (a mount point cannot be renamed):
 * its own metadata as it was, put back on rollback, and as the backup recorded it, set once the group is swapped.
 */
export interface FolderFix {
  path: string;
  before: FolderMeta;
  after: FolderMeta;
}

export interface SwapGroup {
  name: string;
  status: GroupStatus;
  paths: SwapPath[];
  folders?: FolderFix[];
}

/** A folder outside the restored paths in which the restore created scratch paths: its mtime is put back. */
export interface TouchedFolder {
  path: string;
  group: string;
  mtimeMs: number;
}

export interface Journal {
  format: typeof JOURNAL_FORMAT;
  version: 1;
  backupId: string;
  pid: number;
  /** Paths created outside temp/ (sibling staging folders, probes), removed when the journal is settled. */
  scratch: string[];
  /** Folders those scratch paths were created in. */
  touched: TouchedFolder[];
  groups: SwapGroup[];
}

export function newJournal(backupId: string): Journal {
  return { format: JOURNAL_FORMAT, version: 1, backupId, pid: process.pid, scratch: [], touched: [], groups: [] };
}

export async function saveJournal(workspace: string, journal: Journal): Promise<void> {
  await writeFileSafely(path.join(workspace, JOURNAL_FILE), JSON.stringify(journal));
}

export async function readJournal(workspace: string): Promise<Journal | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(workspace, JOURNAL_FILE), 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const journal = JSON.parse(text) as Partial<Journal>;
  if (journal.format !== JOURNAL_FORMAT || !Array.isArray(journal.groups) || !Array.isArray(journal.scratch)) {
    throw new Error(`${path.join(workspace, JOURNAL_FILE)} is not a restore journal`);
  }
  return journal as Journal;
}

async function syncParents(...paths: string[]): Promise<void> {
  for (const dir of new Set(paths.map((p) => path.dirname(p)))) await fsyncDir(dir);
}

function isDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

export interface SwapHooks {
  asRoot: boolean;
  /** Called at each step of the swap (for tests that kill the process at a given instant). */
  onStep?(step: string): void | Promise<void>;
}

/** Puts every staged path of `group` in place; on failure rolls the group back and rethrows. */
export async function swapGroup(workspace: string, journal: Journal, group: SwapGroup, hooks: SwapHooks): Promise<void> {
  for (const p of group.paths) {
    p.existed = pathExists(p.live);
    // `replace` needs something to replace with; a path absent from the new tree is only moved aside.
    p.method = p.existed && pathExists(p.staged) && !isDir(p.live) && !isDir(p.staged) ? 'replace' : 'exchange';
  }
  group.status = 'swapping';
  await saveJournal(workspace, journal);
  try {
    for (const [i, p] of group.paths.entries()) {
      await swapPath(workspace, journal, p, hooks);
      await hooks.onStep?.(`swapped-path:${group.name}:${i}`);
    }
    for (const folder of group.folders ?? []) applyMeta(folder.path, folder.after);
    group.status = 'swapped';
    await saveJournal(workspace, journal);
  } catch (error) {
    try {
      rollBack(group);
      group.status = 'staged';
      await saveJournal(workspace, journal);
    } catch (rollbackError) {
      throw new BackupError(
        'IO',
        `restoring ${group.name} failed (${(error as Error).message}) and putting its old files back failed too (${(rollbackError as Error).message}); the old files are kept under ${workspace}, and the next mcp backup command will try again`,
        { workspace, keepWorkspace: true },
        { cause: error },
      );
    }
    throw error;
  }
  await hooks.onStep?.(`committed:${group.name}`);
  rollForward(group);
  group.status = 'done';
  await saveJournal(workspace, journal);
}

async function swapPath(workspace: string, journal: Journal, p: SwapPath, hooks: SwapHooks): Promise<void> {
  if (p.existed && p.method === 'replace') {
    try {
      fs.linkSync(p.live, p.aside);
    } catch {
      // No hard links here (or not allowed): fall back to two renames.
      p.method = 'exchange';
      await saveJournal(workspace, journal);
    }
  }
  if (p.existed && p.method === 'exchange') {
    const stat = fs.lstatSync(p.live);
    if (!hooks.asRoot && stat.isDirectory() && (stat.mode & 0o200) === 0) {
      p.liveMode = stat.mode & 0o7777;
      await saveJournal(workspace, journal);
      fs.chmodSync(p.live, p.liveMode | 0o200);
    }
    fs.renameSync(p.live, p.aside);
  }
  // Nothing was moved aside when nothing was there: no folder changed, nothing to make durable.
  if (p.existed) await syncParents(p.live, p.aside);
  await hooks.onStep?.(`aside:${path.basename(p.live)}`);
  if (pathExists(p.staged)) {
    fs.renameSync(p.staged, p.live);
    await syncParents(p.live, p.staged);
    applyFinal(p);
  }
}

/** Sets a folder's owner (as root), mode and mtime. */
export function applyMeta(p: string, meta: FolderMeta): void {
  if (process.getuid?.() === 0) fs.chownSync(p, meta.uid, meta.gid);
  fs.chmodSync(p, meta.mode);
  fs.utimesSync(p, new Date(), meta.mtimeMs / 1000);
}

export function metaOf(p: string): FolderMeta {
  const stat = fs.lstatSync(p);
  return { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtimeMs: stat.mtimeMs };
}

function applyFinal(p: SwapPath): void {
  if (!p.final) return;
  fs.chmodSync(p.live, p.final.mode);
  fs.utimesSync(p.live, new Date(), p.final.mtimeMs / 1000);
}

/** Puts each path of the group back as it was before the swap began. Idempotent. */
export function rollBack(group: SwapGroup): void {
  rollBackPaths(group);
  for (const folder of group.folders ?? []) if (pathExists(folder.path)) applyMeta(folder.path, folder.before);
}

function rollBackPaths(group: SwapGroup): void {
  for (const p of [...group.paths].reverse()) {
    if (p.existed === undefined) continue; // The group never started.
    const aside = pathExists(p.aside);
    const staged = pathExists(p.staged);
    const live = pathExists(p.live);
    if (p.method === 'replace') {
      // A is a hard link to the old file. With S still there, the replacing rename never happened.
      if (aside && staged) fs.rmSync(p.aside, { force: true });
      else if (aside) fs.renameSync(p.aside, p.live); // Atomically back over the new file.
      continue;
    }
    if (aside) {
      if (live) {
        if (staged) throw new Error(`${p.live} exists while its old copy is set aside at ${p.aside}: move one of them by hand`);
        fs.renameSync(p.live, p.staged); // The new tree goes back to staging.
      }
      fs.renameSync(p.aside, p.live);
      if (p.liveMode !== undefined) fs.chmodSync(p.live, p.liveMode);
    } else if (p.existed) {
      if (p.liveMode !== undefined && live) fs.chmodSync(p.live, p.liveMode); // Made writable, never moved.
    } else if (live && !staged) {
      fs.renameSync(p.live, p.staged); // It did not exist before: take the new one away again.
    }
  }
}

/** Finishes a group whose new trees are all in place: the old copies go. Idempotent. */
export function rollForward(group: SwapGroup): void {
  for (const p of group.paths) {
    if (group.status === 'swapped') applyFinal(p);
    removeTree(p.aside);
  }
  for (const folder of group.folders ?? []) applyMeta(folder.path, folder.after);
}

/** Brings every group of a journal to a settled state, then removes the scratch paths outside temp/. */
export function settleJournal(journal: Journal): void {
  const restored = new Set<string>();
  for (const group of journal.groups) {
    if (group.status === 'swapping') rollBack(group);
    else if (group.status === 'swapped' || group.status === 'done') {
      rollForward(group);
      restored.add(group.name);
    }
  }
  for (const scratch of journal.scratch) {
    if (path.basename(scratch).startsWith(SCRATCH_PREFIX)) removeTree(scratch);
  }
  // Removing scratch paths changed the mtime of the folders they were in: put back what each should be.
  for (const group of journal.groups) {
    for (const folder of group.folders ?? []) {
      if (pathExists(folder.path)) applyMeta(folder.path, restored.has(group.name) ? folder.after : folder.before);
    }
  }
  // The mtime a folder had before any scratch path was created in it (a folder fix's `before` may be later).
  for (const folder of journal.touched ?? []) {
    if (restored.has(folder.group) || !isDir(folder.path)) continue;
    fs.utimesSync(folder.path, fs.lstatSync(folder.path).atime, folder.mtimeMs / 1000);
  }
}

/**
 * For temp/ sweeping: settles the journal of a dead restore's workspace, if it has one, and makes the workspace
 * removable. Returns false when it could not (the workspace then holds old files and must be kept).
 */
export async function settleInterruptedRestore(workspace: string): Promise<boolean> {
  try {
    const journal = await readJournal(workspace);
    if (journal) settleJournal(journal);
    for (const name of ['new', 'old']) removeTree(path.join(workspace, name));
    return true;
  } catch {
    return false;
  }
}
