/**
 * Writes entries as a tar stream (framing by tar-stream) while hashing every file's content as it is read, and
 * returns the manifest entries of what was written. Reads are synchronous and large (one read for a small file,
 * 1 MiB chunks for a big one), and the only waits are for backpressure: measured here, per-file promises and small
 * reads are what makes a tar writer slow on many small files, not the framing.
 *
 * A file that changes while it is read is archived as read, padded or cut to the size in its header as GNU tar
 * does, and flagged `changedWhileReading`. A file that cannot be opened is reported and left out.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import tarStream from 'tar-stream';
import type { ManifestEntry } from './manifest.js';
import type { ScannedEntry } from '../walk/scan.js';

const SMALL_FILE = 4 << 20;
const CHUNK = 1 << 20;

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


function tarType(entry: ScannedEntry): 'file' | 'directory' | 'symlink' | 'link' {
  switch (entry.type) {
    case 'file':
      return 'file';
    case 'dir':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'hardlink':
      return 'link';
  }
}

function baseEntry(entry: ScannedEntry): ManifestEntry {
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

/** Resolves when tar-stream has taken the whole entry, which is how backpressure reaches this loop. */
type HeaderArgument = Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>;

function addEntry(pack: tarStream.Pack, header: HeaderArgument, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    const sink = content ? pack.entry(header, content, done) : pack.entry(header, done);
    // tar-stream may also emit the failure (a full disk downstream) as an 'error' event: never an unhandled one.
    sink.on('error', reject);
  });
}

function sameFile(before: fs.Stats, after: fs.Stats): boolean {
  return before.size === after.size && before.mtimeMs === after.mtimeMs && before.ctimeMs === after.ctimeMs;
}

/** Reads a file into the tar stream. Returns undefined when the file could not be opened. */
async function packFile(pack: tarStream.Pack, entry: ScannedEntry, hooks: PackHooks): Promise<ManifestEntry | undefined> {
  let fd: number;
  try {
    fd = fs.openSync(entry.absolute, 'r');
  } catch (error) {
    hooks.onUnreadable?.(entry.absolute, (error as Error).message);
    return undefined;
  }
  try {
    const before = fs.fstatSync(fd);
    const size = before.size;
    const header = {
      name: entry.path,
      type: 'file' as const,
      size,
      mode: before.mode & 0o7777,
      uid: before.uid,
      gid: before.gid,
      mtime: new Date(before.mtimeMs),
    };
    const hash = createHash('sha256');
    let shortRead = false;

    if (size <= SMALL_FILE) {
      const content = Buffer.allocUnsafe(size);
      const read = readFully(fd, content);
      if (read < size) {
        content.fill(0, read);
        shortRead = true;
      }
      hash.update(content);
      await addEntry(pack, header, content);
    } else {
      const sink = pack.entry(header);
      const finished = new Promise<void>((resolve, reject) => {
        sink.on('finish', () => resolve());
        sink.on('error', reject);
      });
      // Awaited below; a failure while the loop waits for 'drain' (a full disk) must end the wait, not the process.
      finished.catch(() => undefined);
      for (let remaining = size; remaining > 0; ) {
        const chunk = Buffer.allocUnsafe(Math.min(CHUNK, remaining));
        const read = shortRead ? 0 : readFully(fd, chunk);
        if (read < chunk.length) {
          chunk.fill(0, read);
          shortRead = true;
        }
        hash.update(chunk);
        remaining -= chunk.length;
        if (!sink.write(chunk)) await Promise.race([new Promise<void>((resolve) => sink.once('drain', () => resolve())), finished]);
      }
      sink.end(undefined);
      await finished;
    }

    const after = fs.fstatSync(fd);
    const manifestEntry = baseEntry(entry);
    Object.assign(manifestEntry, {
      mode: header.mode,
      uid: before.uid,
      gid: before.gid,
      mtimeMs: before.mtimeMs,
      size,
      ctimeMs: before.ctimeMs,
      ino: before.ino,
      dev: before.dev,
      sha256: hash.digest('hex'),
    });
    if (shortRead || !sameFile(before, after)) {
      manifestEntry.changedWhileReading = true;
      hooks.onChangedWhileReading?.(entry.absolute);
    }
    return manifestEntry;
  } finally {
    fs.closeSync(fd);
  }
}

function readFully(fd: number, buffer: Buffer): number {
  let offset = 0;
  while (offset < buffer.length) {
    const n = fs.readSync(fd, buffer, offset, buffer.length - offset, null);
    if (n === 0) break;
    offset += n;
  }
  return offset;
}

/** Writes `entries` (content read from disk) into `pack`, reporting each one written through `hooks.onEntry`. */
export async function packEntries(pack: tarStream.Pack, entries: readonly ScannedEntry[], hooks: PackHooks, signal?: AbortSignal): Promise<void> {
  const progress: PackProgress = { entries: 0, files: 0, bytes: 0 };
  let lastReport = 0;
  for (const entry of entries) {
    signal?.throwIfAborted();
    if (entry.type === 'file') {
      const packed = await packFile(pack, entry, hooks);
      if (!packed) continue;
      await hooks.onEntry(packed);
      progress.files++;
      progress.bytes += packed.size;
    } else {
      await addEntry(pack, {
        name: entry.path,
        type: tarType(entry),
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        mtime: new Date(entry.mtimeMs),
        ...(entry.link !== undefined && { linkname: entry.link }),
      });
      await hooks.onEntry(baseEntry(entry));
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

/** Writes a file of ours (the manifest) into `pack` under `name`, streaming it from disk. */
export async function packOwnFile(pack: tarStream.Pack, name: string, file: string, mtime: Date): Promise<void> {
  const size = fs.statSync(file).size;
  const sink = pack.entry({ name, type: 'file', mode: 0o600, mtime, size });
  const finished = new Promise<void>((resolve, reject) => {
    sink.on('finish', () => resolve());
    sink.on('error', reject);
  });
  finished.catch(() => undefined); // Awaited below (see packFile).

  for await (const chunk of fs.createReadStream(file, { highWaterMark: CHUNK })) {
    if (!sink.write(chunk as Buffer)) await Promise.race([new Promise<void>((resolve) => sink.once('drain', () => resolve())), finished]);
  }
  sink.end(undefined);
  await finished;
}
