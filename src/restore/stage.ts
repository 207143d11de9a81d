/**
 * Builds the new tree of each restored root in its staging folder, from the backup's state and its archives:
 *
 *   folders (from the state, parents first, 0700 while being filled)
 *   -> for each archive of the chain that holds needed content: stream it once, check every entry against that
 *      backup's manifest (safe path, listed, same type and link, same size), write each needed file with
 *      O_CREAT|O_EXCL|O_NOFOLLOW while hashing it, and refuse it unless its SHA-256 is the recorded one; then check
 *      the archive's own SHA-256 against the index. Archives of the chain that hold nothing needed are checksummed.
 *   -> hard links and symlinks (from the state; symlinks last, so no write can pass through one)
 *   -> owners (as root), modes and mtimes of folders, deepest first.
 *
 * Nothing here touches a live path: everything is written under the staging roots, which the caller created fresh,
 * and every destination is checked to resolve inside its staging root. Entries the backup never covered are
 * carried in from the live tree later (`carryKept`), right before the swap, once the service is stopped.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
import { readArchive, type EntryBody } from '../archive/read.js';
import type { BackupState, StateEntry } from '../archive/state.js';
import type { OperationObserver } from '../backup/progress.js';
import type { DecryptionKey } from '../crypto/index.js';
import { BackupError, ioError } from '../errors.js';
import type { BackupRecord } from '../metadata/record.js';
import type { ArchiveStorage } from '../storage/storage.js';
import { scanDestination } from './disk.js';
import type { RestoreRoot } from './roots.js';
import { archivePathProblem, isInside, rootOf, unsafe } from './safety.js';
import { carryOver, joinPath } from './tree-ops.js';

const TAR_TYPES: Record<ManifestEntry['type'], string> = { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link' };
const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export interface StagingRoot {
  root: RestoreRoot;
  /** Fresh path (not existing yet) where this root's new tree is built. */
  staged: string;
}

export interface ChainMember {
  record: BackupRecord;
  manifest: Manifest;
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

function writeAll(fd: number, chunk: Buffer): void {
  for (let offset = 0; offset < chunk.length; ) offset += fs.writeSync(fd, chunk, offset, chunk.length - offset);
}

async function checksumOf(storage: ArchiveStorage, record: BackupRecord): Promise<string | undefined> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of await storage.open(record.archive)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch {
    return undefined;
  }
}

function integrity(message: string, details: Record<string, unknown> = {}): BackupError {
  return new BackupError('INTEGRITY', `${message}; nothing was restored`, details);
}

/** Maps every state entry under the staging roots to where it is written. */
function wantedEntries(state: BackupState, roots: readonly StagingRoot[]): Map<string, Wanted> {
  const wanted = new Map<string, Wanted>();
  const byArchiveRoot = roots.map((r) => ({ archiveRoot: r.root.archiveRoot, staging: r }));
  for (const [p, entry] of state) {
    const found = rootOf(byArchiveRoot, p);
    if (!found) continue;
    const root = found.staging;
    const relative = p === root.root.archiveRoot ? '' : p.slice(root.root.archiveRoot.length + 1);
    const dest = relative === '' ? root.staged : path.join(root.staged, ...relative.split('/'));
    if (!isInside(root.staged, dest)) throw unsafe(`backup ${entry.storedIn}`, p, 'it resolves outside its folder');
    wanted.set(p, { entry, dest, root });
  }
  return wanted;
}

export async function stageRoots(
  storage: ArchiveStorage,
  chain: readonly ChainMember[],
  state: BackupState,
  roots: readonly StagingRoot[],
  options: StageOptions,
): Promise<StageResult> {
  const wanted = wantedEntries(state, roots);
  const now = new Date();
  const files = [...wanted.values()].filter((w) => w.entry.type === 'file');
  const totalFiles = files.length;
  const totalBytes = files.reduce((n, w) => n + w.entry.size, 0);
  let doneFiles = 0;
  let doneBytes = 0;
  let lastReport = 0;
  const report = (force = false) => {
    const time = Date.now();
    if (!force && time - lastReport < 100) return;
    lastReport = time;
    options.onProgress?.({ phase: 'restore', files: doneFiles, bytes: doneBytes, totalFiles, totalBytes });
  };

  // 1. Folders, parents first (a path sorts after every prefix of it).
  const dirs = [...wanted.values()].filter((w) => w.entry.type === 'dir').sort((a, b) => (a.entry.path < b.entry.path ? -1 : 1));
  for (const dir of dirs) fs.mkdirSync(dir.dest, { mode: 0o700 });

  // 2. File content, from the archive that holds each file, each archive streamed once.
  const chainIds = new Set(chain.map((m) => m.record.id));
  const pendingBy = new Map<string, Map<string, Wanted>>();
  for (const w of files) {
    if (!chainIds.has(w.entry.storedIn)) throw integrity(`${w.entry.path} is stored in backup ${w.entry.storedIn}, which is not in the chain`);
    let pending = pendingBy.get(w.entry.storedIn);
    if (!pending) pendingBy.set(w.entry.storedIn, (pending = new Map<string, Wanted>()));
    pending.set(w.entry.path, w);
  }
  for (const { record, manifest } of chain) {
    options.signal?.throwIfAborted();
    const pending = pendingBy.get(record.id);
    if (!pending) {
      // Nothing needed from it; it is still part of what the restore stands on.
      if ((await checksumOf(storage, record)) !== record.sha256) {
        throw integrity(`archive ${record.archive} of backup ${record.id} does not match its SHA-256 in the index`, { id: record.id });
      }
      continue;
    }
    const where = `archive ${record.archive}`;
    const listed = new Map(manifest.entries.filter((e) => e.storedIn === undefined || e.storedIn === record.id).map((e) => [e.path, e]));
    const seen = new Set<string>();
    const onEntry = async (header: { name: string; type?: string | null; size?: number | null; linkname?: string | null }, body: EntryBody) => {
      const name = header.type === 'directory' && header.name.endsWith('/') ? header.name.slice(0, -1) : header.name;
      const problem = archivePathProblem(name);
      if (problem) throw unsafe(where, name, problem);
      if (seen.has(name)) throw unsafe(where, name, 'it appears twice in the archive');
      seen.add(name);
      const listedEntry = listed.get(name);
      if (!listedEntry) throw unsafe(where, name, `it is not in backup ${record.id}'s manifest`);
      if (header.type !== TAR_TYPES[listedEntry.type]) throw unsafe(where, name, `the archive holds a ${String(header.type)}, the manifest a ${listedEntry.type}`);
      if ((listedEntry.type === 'symlink' || listedEntry.type === 'hardlink') && header.linkname !== listedEntry.link) {
        throw unsafe(where, name, `it links to ${JSON.stringify(header.linkname)}, the manifest says ${JSON.stringify(listedEntry.link)}`);
      }
      if (listedEntry.type === 'file' && header.size !== listedEntry.size) {
        throw integrity(`${where}: ${name} holds ${header.size ?? '?'} bytes, the manifest says ${listedEntry.size}`, { id: record.id });
      }
      const target = pending.get(name);
      if (!target) {
        body.resume();
        await new Promise<void>((resolve) => body.on('end', () => resolve()));
        return;
      }
      pending.delete(name);
      await writeFile(target, body, options.asRoot, now, (bytes) => {
        doneBytes += bytes;
        report();
      });
      doneFiles++;
      report();
    };
    try {
      const read = await readArchive(storage, record, onEntry, {
        ...(options.signal && { signal: options.signal }),
        ...(options.key && { key: options.key }),
      });
      if (read.sha256 !== record.sha256) throw integrity(`archive ${record.archive} of backup ${record.id} does not match its SHA-256 in the index`, { id: record.id });
      if (read.manifest && read.manifest.id !== record.id) throw integrity(`archive ${record.archive} holds backup ${read.manifest.id}, not ${record.id}`, { id: record.id });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      // Say what the user acts on: a changed archive, rather than the first oddity its changed bytes caused.
      if ((await checksumOf(storage, record)) !== record.sha256) {
        throw integrity(`archive ${record.archive} of backup ${record.id} does not match its SHA-256 in the index: it was changed or damaged`, { id: record.id });
      }
      throw error;
    }
    const missing = [...pending.keys()];
    if (missing.length > 0) {
      throw integrity(`archive ${record.archive} of backup ${record.id} lacks ${missing.length} file(s) its manifest lists, e.g. ${missing[0]}`, { id: record.id });
    }
  }
  report(true);

  // 3. Links, from the state. Symlinks come last: no file is written after one exists.
  for (const w of wanted.values()) {
    if (w.entry.type !== 'hardlink') continue;
    const target = wanted.get(w.entry.link ?? '');
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
  for (const w of wanted.values()) {
    if (w.entry.type !== 'symlink') continue;
    fs.symlinkSync(w.entry.link!, w.dest);
    if (options.asRoot) fs.lchownSync(w.dest, w.entry.uid, w.entry.gid);
    fs.lutimesSync(w.dest, now, toSeconds(w.entry.mtimeMs));
  }

  // 4. Folder metadata, deepest first, so setting a folder's time is the last change inside its parent.
  const deferred = new Map<string, { mode: number; mtimeMs: number }>();
  for (const dir of [...dirs].reverse()) {
    const e = dir.entry;
    if (options.asRoot) fs.chownSync(dir.dest, e.uid, e.gid);
    let mode = e.mode;
    if (dir.dest === dir.root.staged && !options.asRoot && (mode & 0o200) === 0) {
      // Moving a folder to another parent needs write access to it; its real mode is set once it is in place.
      deferred.set(dir.dest, { mode, mtimeMs: e.mtimeMs });
      mode |= 0o200;
    }
    fs.chmodSync(dir.dest, mode);
    fs.utimesSync(dir.dest, now, toSeconds(e.mtimeMs));
  }
  return { entries: wanted.size, files: totalFiles, bytes: totalBytes, deferred };
}

async function writeFile(target: Wanted, body: EntryBody, asRoot: boolean, now: Date, onBytes: (n: number) => void): Promise<void> {
  const { entry, dest } = target;
  let fd: number;
  try {
    fd = fs.openSync(dest, CREATE_FLAGS, 0o600);
  } catch (error) {
    throw ioError('creating', dest, error);
  }
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (size > entry.size) break;
      hash.update(chunk);
      writeAll(fd, chunk);
      onBytes(chunk.length);
    }
    if (size !== entry.size || hash.digest('hex') !== entry.sha256) {
      throw integrity(`${entry.path} in the archive of backup ${entry.storedIn} does not match its SHA-256 in the manifest`, { path: entry.path });
    }
    if (asRoot) fs.fchownSync(fd, entry.uid, entry.gid);
    fs.fchmodSync(fd, entry.mode);
    fs.futimesSync(fd, now, toSeconds(entry.mtimeMs));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Carries into a staged root what the live path holds that the backup never covered (excluded paths, special
 * files, undecodable names), by hard link, and puts back the times (and modes) of the folders it touched.
 * Returns how many entries were carried.
 */
export function carryKept(root: RestoreRoot, staged: string, state: BackupState, asRoot: boolean): number {
  const kept = scanDestination(root, state).kept;
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
