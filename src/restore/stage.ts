/**
 * Builds the new tree of each restored root in its staging folder, from the backup's state and its archives:
 *
 *   folders (from the state, parents first, with their recorded mode unless it would keep their owner from filling
 *     them: then 0700 until step 4)
 *   -> for each archive of the chain that holds needed content: stream it once, check every entry against that
 *      backup's manifest (safe path, listed, same type and link, same size) on the main thread, and hand each needed
 *      file to the write pool, whose workers create it with O_CREAT|O_EXCL|O_NOFOLLOW, hash it as they write, and
 *      refuse it unless its SHA-256 is the recorded one; wait for every file of the archive, then check the
 *      archive's own SHA-256 against the index and its own manifest's against the copy's. Archives of the chain
 *      that hold nothing needed are checksummed.
 *   -> hard links and symlinks (from the state; symlinks last, so no write can pass through one)
 *   -> owners (as root), modes and mtimes of folders, deepest first.
 *
 * Nothing here touches a live path: everything is written under the staging roots, which the caller created fresh,
 * and no destination has a `.` or `..` segment that could lead it out of its staging root. Entries the backup never
 * covered are carried in from the live tree later (`carryKept`), right before the swap, once the service is stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FoldedState } from '../archive/folded-state.js';
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
import { readArchive, storedChecksum, type EntrySink, type TarHeader } from '../archive/read.js';
import { SlotList } from '../archive/slot-list.js';
import type { BackupState, StateEntry } from '../archive/state.js';
import type { OperationObserver } from '../backup/progress.js';
import type { DecryptionKey } from '../crypto/index.js';
import { BackupError, ioError } from '../errors.js';
import type { BackupRecord } from '../metadata/record.js';
import type { ArchiveStorage } from '../storage/storage.js';
import { keptEntries } from './disk.js';
import type { RestoreRoot } from './roots.js';
import { archivePathProblem, rootFinder, unsafe } from './safety.js';
import { carryOver, joinPath } from './tree-ops.js';
import { WritePool } from './write-pool.js';
import { CREATE_FLAGS, type WriteFailure } from '../workers/write-files-protocol.js';

const TAR_TYPES: Record<ManifestEntry['type'], string> = { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link' };

export interface StagingRoot {
  root: RestoreRoot;
  /** Fresh path (not existing yet) where this root's new tree is built. */
  staged: string;
}

export interface ChainMember {
  record: BackupRecord;
  /** The manifest's header (its entries are in `listing`). */
  manifest: Manifest;
  /** The manifest's entries, each with its `storedIn`: those stored in this backup are what its archive must hold. */
  listing: FoldedState;
  /** SHA-256 of the manifest's plain bytes, which the archive's own manifest must match; absent for a manifest from
   *  this host's cache (dry runs only). */
  manifestSha256?: string;
}

export interface StageOptions extends OperationObserver {
  /** Restore owners (only root can). */
  asRoot: boolean;
  key?: DecryptionKey;
  signal?: AbortSignal;
}

export interface StageResult {
  entries: number;
  files: number;
  bytes: number;
  /** Staged root folders left writable for the swap (not running as root), with their recorded mode and mtime. */
  deferred: Map<string, { mode: number; mtimeMs: number }>;
}

interface Wanted {
  entry: StateEntry;
  dest: string;
  root: StagingRoot;
}

function toSeconds(ms: number): number {
  return ms / 1000;
}

function integrity(message: string, details: Record<string, unknown> = {}): BackupError {
  return new BackupError('INTEGRITY', `${message}; nothing was restored`, details);
}

/**
 * What a file or folder created under a staging root gets without being told: its owner, and which of the permission
 * bits asked of open(2) or mkdir(2) it keeps (the umask or a default ACL takes the others); a folder also inherits a
 * set-group-ID bit. Every folder under a staging root is made by this restore inside the root's parent, so it
 * inherits the same, and a probe file and a probe folder in that parent tell for all of them. An entry whose recorded
 * owner and mode come this way skips chown and chmod: two of its metadata syscalls, each a journaled inode update.
 */
interface Created {
  uid: number;
  gid: number;
  /** The permission bits kept of 0o777, and for a folder the set-group-ID bit it inherits. */
  mode: number;
}

interface CreationDefaults {
  file: Created;
  dir: Created;
}

function creationDefaults(root: StagingRoot): CreationDefaults {
  // The parent is this restore's own folder (the workspace's, or a scratch folder beside the live path).
  const probe = path.join(path.dirname(root.staged), '.creation-probe');
  // Opened and made as the restored files and folders are, so they get what those get.
  const fd = fs.openSync(probe, CREATE_FLAGS, 0o777);
  let file: Created;
  try {
    const stat = fs.fstatSync(fd);
    file = { uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o777 };
  } finally {
    fs.closeSync(fd);
    fs.unlinkSync(probe);
  }
  fs.mkdirSync(probe, { mode: 0o777 });
  try {
    const stat = fs.lstatSync(probe);
    return { file, dir: { uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o7777 } };
  } finally {
    fs.rmdirSync(probe);
  }
}

/**
 * The mode a folder is made with: its recorded permissions, unless they would keep its owner from filling it (not
 * running as root), in which case 0700 until its files are in.
 */
function folderCreationMode(recorded: number, asRoot: boolean): number {
  return asRoot || (recorded & 0o700) === 0o700 ? recorded & 0o777 : 0o700;
}

/** The mode a folder made with `requested` (at most 0o777) has, by the probe folder. */
function createdFolderMode(requested: number, made: Created): number {
  return (requested & made.mode & 0o777) | (made.mode & 0o7000);
}

/** A path segment `.` or `..`: what could lead a destination out of its staging root. */
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/**
 * Where the state's entries under the staging roots are written. Destinations are made as they are needed, not held
 * for every entry: a map of 77k of them cost about 20 MB.
 */
class Destinations {
  readonly #rootOf: (p: string) => { archiveRoot: string; staging: StagingRoot } | undefined;

  constructor(roots: readonly StagingRoot[]) {
    this.#rootOf = rootFinder(roots.map((r) => ({ archiveRoot: r.root.archiveRoot, staging: r })));
  }

  /** Whether `path` is under a staging root. */
  covers(path: string): boolean {
    return this.#rootOf(path) !== undefined;
  }

  /** Where `entry` goes, or undefined when it is under no staging root. */
  of(entry: StateEntry): Wanted | undefined {
    const p = entry.path;
    const found = this.#rootOf(p);
    if (!found) return undefined;
    const root = found.staging;
    // Paths were checked segment by segment with the manifests (checkManifestEntry); refusing dot segments again
    // here keeps a destination inside its staging root whatever the caller checked.
    if (DOT_SEGMENT.test(p)) throw unsafe(`backup ${entry.storedIn}`, p, 'it resolves outside its folder');
    const dest = p === found.archiveRoot ? root.staged : root.staged + p.slice(found.archiveRoot.length);
    return { entry, dest, root };
  }
}

export async function stageRoots(
  storage: ArchiveStorage,
  chain: readonly ChainMember[],
  state: FoldedState,
  roots: readonly StagingRoot[],
  options: StageOptions,
): Promise<StageResult> {
  const destinations = new Destinations(roots);
  const defaults = new Map(roots.map((root) => [root, creationDefaults(root)]));
  const now = new Date();
  const chainIds = new Set(chain.map((m) => m.record.id));
  // Folders and links by slot, their entries and destinations made again when they are worked on: held as objects,
  // they grew a restore by about 450 bytes a folder.
  const dirs = new SlotList();
  const links = new SlotList();
  /** How many files each archive of the chain must give. */
  const filesIn = new Map<string, number>();
  let entries = 0;
  let totalFiles = 0;
  let totalBytes = 0;
  for (let slot = 0; slot < state.slots; slot++) {
    if (!state.holds(slot) || !destinations.covers(state.pathAt(slot))) continue;
    entries++;
    const type = state.typeAt(slot);
    if (type === 'dir') dirs.push(slot);
    if (type === 'hardlink' || type === 'symlink') links.push(slot);
    if (type !== 'file') continue;
    const storedIn = state.storedInAt(slot);
    if (!chainIds.has(storedIn)) throw integrity(`${state.pathAt(slot)} is stored in backup ${storedIn}, which is not in the chain`);
    filesIn.set(storedIn, (filesIn.get(storedIn) ?? 0) + 1);
    totalFiles++;
    totalBytes += state.sizeAt(slot);
  }
  const folders = parentsFirst(state, dirs);
  const wantedAt = (slot: number) => destinations.of(state.entryAt(slot))!;
  let doneFiles = 0;
  let doneBytes = 0;
  let lastReport = 0;
  const report = (force = false) => {
    const time = Date.now();
    if (!force && time - lastReport < 100) return;
    lastReport = time;
    options.onProgress?.({ phase: 'restore', files: doneFiles, bytes: doneBytes, totalFiles, totalBytes });
  };

  // Files are written by workers (started first, to boot while the folders are made); a failure names the archive
  // being read.
  let reading: BackupRecord | undefined;
  const pool = new WritePool({
    toError: (failure) => writeError(failure, reading!),
    onWritten: (files, bytes) => {
      doneFiles += files;
      doneBytes += bytes;
      report();
    },
  });
  try {
    // 1. Folders.
    for (const slot of folders) {
      const { dest, entry } = wantedAt(slot);
      fs.mkdirSync(dest, { mode: folderCreationMode(entry.mode, options.asRoot) });
    }

    // 2. File content, from the archive that holds each file, each archive streamed once.
    for (const member of chain) {
      const { record } = member;
      options.signal?.throwIfAborted();
      const expected = filesIn.get(record.id);
      if (expected === undefined) {
        // Nothing needed from it; it is still part of what the restore stands on.
        if ((await storedChecksum(storage, record)) !== record.sha256) {
          throw integrity(`archive ${record.archive} of backup ${record.id} does not match its SHA-256 in the index`, { id: record.id });
        }
        continue;
      }
      reading = record;
      await stageArchive(storage, member, { state, destinations, expected, defaults }, pool, { ...options, now });
    }
  } finally {
    await pool.close();
  }
  report(true);

  // 3. Links, from the state. Symlinks come last: no file is written after one exists.
  for (const slot of links) {
    const w = wantedAt(slot);
    if (w.entry.type !== 'hardlink') continue;
    const linked = state.get(w.entry.link ?? '');
    const target = linked && destinations.of(linked);
    if (!target || target.entry.type !== 'file') throw unsafe(`backup ${w.entry.storedIn}`, w.entry.path, 'hard link to outside the restored files');
    try {
      fs.linkSync(target.dest, w.dest);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw ioError('linking', w.dest, error);
      // The two paths are staged on different filesystems (their live paths are): a copy is all that can be.
      fs.copyFileSync(target.dest, w.dest, fs.constants.COPYFILE_EXCL);
      const t = target.entry;
      if (options.asRoot) fs.chownSync(w.dest, t.uid, t.gid);
      fs.chmodSync(w.dest, t.mode);
      fs.utimesSync(w.dest, now, toSeconds(t.mtimeMs));
      options.onWarning?.(`${w.dest}: restored as a copy of ${target.dest}, not a hard link (they are on different filesystems)`);
    }
  }
  for (const slot of links) {
    const w = wantedAt(slot);
    if (w.entry.type !== 'symlink') continue;
    fs.symlinkSync(w.entry.link!, w.dest);
    if (options.asRoot) fs.lchownSync(w.dest, w.entry.uid, w.entry.gid);
    fs.lutimesSync(w.dest, now, toSeconds(w.entry.mtimeMs));
  }

  // 4. Folder metadata, deepest first, so setting a folder's time is the last change inside its parent.
  const deferred = new Map<string, { mode: number; mtimeMs: number }>();
  for (let i = folders.length - 1; i >= 0; i--) {
    const dir = wantedAt(folders[i]!);
    const e = dir.entry;
    const made = defaults.get(dir.root)!.dir;
    if (options.asRoot && (e.uid !== made.uid || e.gid !== made.gid)) fs.chownSync(dir.dest, e.uid, e.gid);
    let mode = e.mode;
    if (dir.dest === dir.root.staged && !options.asRoot && (mode & 0o200) === 0) {
      // Moving a folder to another parent needs write access to it; its real mode is set once it is in place.
      deferred.set(dir.dest, { mode, mtimeMs: e.mtimeMs });
      mode |= 0o200;
    }
    if (mode !== createdFolderMode(folderCreationMode(e.mode, options.asRoot), made)) fs.chmodSync(dir.dest, mode);
    fs.utimesSync(dir.dest, now, toSeconds(e.mtimeMs));
  }
  return { entries, files: totalFiles, bytes: totalBytes, deferred };
}

/**
 * The folders' slots, parents first: by depth, since a folder has fewer segments than anything in it. Sorted as
 * numbers (depth above the slot's 32 bits), without a comparator or a path string each.
 */
function parentsFirst(state: FoldedState, dirs: SlotList): Int32Array {
  const keys = new Float64Array(dirs.length);
  for (let i = 0; i < dirs.length; i++) {
    const slot = dirs.at(i);
    const path = state.pathAt(slot);
    let depth = 0;
    for (let at = path.indexOf('/'); at >= 0; at = path.indexOf('/', at + 1)) depth++;
    keys[i] = depth * 2 ** 32 + slot;
  }
  keys.sort();
  return Int32Array.from(keys, (key) => key % 2 ** 32);
}

/** Streams one archive of the chain, checking every entry against its manifest and queueing the files wanted from it. */
async function stageArchive(
  storage: ArchiveStorage,
  { record, listing, manifestSha256 }: ChainMember,
  files: { state: FoldedState; destinations: Destinations; expected: number; defaults: ReadonlyMap<StagingRoot, CreationDefaults> },
  pool: WritePool,
  options: StageOptions & { now: Date },
): Promise<void> {
  const where = `archive ${record.archive}`;
  // Listed entries the archive already yielded, by slot, so a second copy is caught without a set of paths.
  const seen = new Uint8Array(listing.slots);
  /** A listed entry of this backup: one whose content its archive holds. */
  const listedSlot = (p: string) => {
    const slot = listing.indexOf(p);
    return slot >= 0 && listing.entryAt(slot).storedIn === record.id ? slot : -1;
  };
  const atime = toSeconds(options.now.getTime());
  let queued = 0;
  const onEntry = (header: TarHeader): EntrySink | undefined => {
    const name = header.type === 'directory' && header.name.endsWith('/') ? header.name.slice(0, -1) : header.name;
    const problem = archivePathProblem(name);
    if (problem) throw unsafe(where, name, problem);
    const slot = listing.indexOf(name);
    const listedEntry = slot >= 0 ? listing.entryAt(slot) : undefined;
    if (!listedEntry || listedEntry.storedIn !== record.id) throw unsafe(where, name, `it is not in backup ${record.id}'s manifest`);
    if (seen[slot] === 1) throw unsafe(where, name, 'it appears twice in the archive');
    seen[slot] = 1;
    if (header.type !== TAR_TYPES[listedEntry.type]) throw unsafe(where, name, `the archive holds a ${String(header.type)}, the manifest a ${listedEntry.type}`);
    if ((listedEntry.type === 'symlink' || listedEntry.type === 'hardlink') && header.linkname !== listedEntry.link) {
      throw unsafe(where, name, `it links to ${JSON.stringify(header.linkname)}, the manifest says ${JSON.stringify(listedEntry.link)}`);
    }
    if (listedEntry.type === 'file' && header.size !== listedEntry.size) {
      throw integrity(`${where}: ${name} holds ${header.size} bytes, the manifest says ${listedEntry.size}`, { id: record.id });
    }
    // The state's entry: in a chain of one backup, the listed one.
    const stateEntry = files.state === listing ? listedEntry : files.state.get(name);
    if (stateEntry?.type !== 'file' || stateEntry.storedIn !== record.id) return undefined;
    const target = files.destinations.of(stateEntry);
    if (!target) return undefined;
    queued++;
    const { entry, dest, root } = target;
    const made = files.defaults.get(root)!.file;
    pool.begin({
      dest,
      path: entry.path,
      size: entry.size,
      sha256: entry.sha256 ?? '',
      mode: entry.mode,
      modeAtCreation: (entry.mode & ~made.mode) === 0,
      ...(options.asRoot && (entry.uid !== made.uid || entry.gid !== made.gid) && { owner: { uid: entry.uid, gid: entry.gid } }),
      atime,
      mtime: toSeconds(entry.mtimeMs),
    });
    return pool;
  };
  try {
    // The archive's own manifest is hashed, not parsed: matching the checked copy's bytes says all its id would.
    const read = await readArchive(storage, record, onEntry, {
      ...(options.signal && { signal: options.signal }),
      ...(options.key && { key: options.key }),
      parseManifest: false,
    });
    // Every file is written and its SHA-256 checked before the archive counts as read.
    await pool.flush();
    if (read.sha256 !== record.sha256) throw integrity(`archive ${record.archive} of backup ${record.id} does not match its SHA-256 in the index`, { id: record.id });
    if (read.manifestSha256 !== undefined && manifestSha256 !== undefined && read.manifestSha256 !== manifestSha256) {
      throw integrity(`archive ${record.archive} does not hold backup ${record.id}'s manifest (it differs from the copy beside it)`, { id: record.id });
    }
  } catch (error) {
    if (options.signal?.aborted) throw error;
    // Say what the user acts on: a changed archive, rather than the first oddity its changed bytes caused. An archive
    // that cannot be read again (the error may be why: no descriptors left, an I/O error) is not called changed.
    const stored = await storedChecksum(storage, record).catch(() => undefined);
    if (stored !== undefined && stored !== record.sha256) {
      throw integrity(`archive ${record.archive} of backup ${record.id} does not match its SHA-256 in the index: it was changed or damaged`, { id: record.id });
    }
    throw error;
  }
  if (queued < files.expected) {
    let missing: string | undefined;
    for (const entry of files.state.values()) {
      if (entry.type !== 'file' || entry.storedIn !== record.id || !files.destinations.of(entry)) continue;
      const slot = listedSlot(entry.path);
      if (slot < 0 || seen[slot] !== 1) {
        missing = entry.path;
        break;
      }
    }
    throw integrity(`archive ${record.archive} of backup ${record.id} lacks ${files.expected - queued} file(s) its manifest lists, e.g. ${missing}`, {
      id: record.id,
    });
  }
}

/** What a worker's failure means for the restore, in the words the in-process writes used. */
function writeError(failure: WriteFailure, record: BackupRecord): BackupError {
  if (failure.stage === 'content') {
    return integrity(`${failure.path} in the archive of backup ${record.id} does not match its SHA-256 in the manifest`, { path: failure.path });
  }
  const cause = Object.assign(new Error(failure.message), failure.code !== undefined && { code: failure.code });
  return failure.stage === 'creating' ? ioError('creating', failure.dest, cause) : ioError('restoring the files of', `backup ${record.id}`, cause);
}

/**
 * Carries into a staged root what the live path holds that the backup never covered (excluded paths, special
 * files, undecodable names), by hard link, and puts back the times (and modes) of the folders it touched.
 * Returns how many entries were carried.
 */
export function carryKept(root: RestoreRoot, staged: string, state: BackupState, asRoot: boolean): number {
  const kept = keptEntries(root, state);
  const touched = new Set<string>();
  for (const k of kept) {
    const parentEntry = state.get(k.parent);
    if (parentEntry?.type !== 'dir') continue;
    const relative = k.parent === root.archiveRoot ? '' : k.parent.slice(root.archiveRoot.length + 1);
    const liveDir = relative === '' ? root.destination : path.join(root.destination, ...relative.split('/'));
    const stagedDir = relative === '' ? staged : path.join(staged, ...relative.split('/'));
    if (!touched.has(k.parent)) {
      touched.add(k.parent);
      if (!asRoot) fs.chmodSync(stagedDir, parentEntry.mode | 0o700);
    }
    carryOver(joinPath(liveDir, k.name), joinPath(stagedDir, k.name), asRoot);
  }
  const now = new Date();
  for (const p of touched) {
    const e = state.get(p)!;
    const relative = p === root.archiveRoot ? '' : p.slice(root.archiveRoot.length + 1);
    const stagedDir = relative === '' ? staged : path.join(staged, ...relative.split('/'));
    // The staged root stays writable until it is in place (see stageRoots).
    if (!asRoot) fs.chmodSync(stagedDir, relative === '' && (e.mode & 0o200) === 0 ? e.mode | 0o200 : e.mode);
    fs.utimesSync(stagedDir, now, toSeconds(e.mtimeMs));
  }
  return kept.length;
}
