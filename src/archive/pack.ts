/**
 * Writes entries into a tar stream while hashing every file's content as it is read, and reports the manifest entry
 * of each one written. Reads are synchronous and go straight into the archive's blocks (see tar-stream-writer.ts);
 * the only waits are for backpressure: measured here, per-file promises, buffers and small reads are what makes a
 * tar writer slow on many small files, not the framing.
 *
 * The scan's lstat is each file's "before": a file that changes between the scan and the end of its reading (size,
 * times or inode differ from a fstat after the read) is archived as read, padded or cut to the size in its header as
 * GNU tar does, and flagged `changedWhileReading`. A file that cannot be opened is reported and left out.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ManifestEntry } from './manifest.js';
import type { WrittenTarType, TarEntryHeader } from './tar-header.js';
import type { TarStreamWriter } from './tar-stream-writer.js';
import type { ScannedEntry } from '../walk/scan.js';

/** What the packer needs of a scanned entry. */
export type PackEntry = Omit<ScannedEntry, 'nlink'>;

export interface PackProgress {
  entries: number;
  files: number;
  bytes: number;
}

export interface PackHooks {
  /** Each entry written, with its metadata and (files) its SHA-256, in archive order. */
  onEntry(entry: ManifestEntry): Promise<void> | void;
  onProgress?(progress: PackProgress): void;
  /** A file that could not be read; it is left out of the archive. */
  onUnreadable?(absolute: string, reason: string): void;
  onChangedWhileReading?(absolute: string): void;
}

const TAR_TYPES: Record<PackEntry['type'], WrittenTarType> = { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link' };

function tarHeader(entry: PackEntry): TarEntryHeader {
  return {
    name: entry.path,
    type: TAR_TYPES[entry.type],
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.type === 'file' ? entry.size : 0,
    mtimeMs: entry.mtimeMs,
    ...(entry.link !== undefined && { linkname: entry.link }),
  };
}

function manifestEntry(entry: PackEntry): ManifestEntry {
  const result: ManifestEntry = {
    path: entry.path,
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtimeMs: entry.mtimeMs,
    size: entry.size,
    dev: entry.dev,
    ino: entry.ino,
    ctimeMs: entry.ctimeMs,
  };
  if (entry.link !== undefined) result.link = entry.link;
  return result;
}

function unchangedSince(entry: PackEntry, after: fs.Stats): boolean {
  return after.size === entry.size && after.mtimeMs === entry.mtimeMs && after.ctimeMs === entry.ctimeMs && after.ino === entry.ino;
}

/**
 * The path was a regular file at the scan, but may be something else by now: a FIFO must not block the backup
 * (non-blocking, its read ends at once and it is reported as changed), nor a symlink lead it to another file (not
 * followed: reported as unreadable).
 */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;

/** Reads a file into the archive. Returns undefined when the file could not be opened. */
async function packFile(out: TarStreamWriter, entry: PackEntry, hooks: PackHooks): Promise<ManifestEntry | undefined> {
  let fd: number;
  try {
    fd = fs.openSync(entry.absolute, OPEN_FLAGS);
  } catch (error) {
    hooks.onUnreadable?.(entry.absolute, (error as Error).message);
    return undefined;
  }
  try {
    const hash = createHash('sha256');
    const read = await out.file(tarHeader(entry), fd, hash);
    const packed = manifestEntry(entry);
    packed.sha256 = hash.digest('hex');
    if (read < entry.size || !unchangedSince(entry, fs.fstatSync(fd))) {
      packed.changedWhileReading = true;
      hooks.onChangedWhileReading?.(entry.absolute);
    }
    return packed;
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `entries` (content read from disk) into `out`, reporting each one written through `hooks.onEntry`. */
export async function packEntries(out: TarStreamWriter, entries: Iterable<PackEntry>, hooks: PackHooks, signal?: AbortSignal): Promise<void> {
  const progress: PackProgress = { entries: 0, files: 0, bytes: 0 };
  let lastReport = 0;
  for (const entry of entries) {
    signal?.throwIfAborted();
    if (entry.type === 'file') {
      const packed = await packFile(out, entry, hooks);
      if (!packed) continue;
      await hooks.onEntry(packed);
      progress.files++;
      progress.bytes += packed.size;
    } else {
      await out.header(tarHeader(entry));
      await hooks.onEntry(manifestEntry(entry));
    }
    progress.entries++;
    const now = Date.now();
    if (hooks.onProgress && now - lastReport >= 100) {
      lastReport = now;
      hooks.onProgress({ ...progress });
    }
  }
  hooks.onProgress?.({ ...progress });
}

/** Writes a file of ours (the manifest) into `out` under `name`. */
export async function packOwnFile(out: TarStreamWriter, name: string, file: string, mtime: Date): Promise<void> {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    await out.file({ name, type: 'file', mode: 0o600, uid: 0, gid: 0, size, mtimeMs: mtime.getTime() }, fd, createHash('sha256'));
  } finally {
    fs.closeSync(fd);
  }
}
