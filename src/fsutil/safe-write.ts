/**
 * The one way this project writes files it owns (index, schedules, sidecars): temp file in the same folder, fsync,
 * rename, fsync of the folder, mode 0600. A crash at any instant leaves either the old or the new file, never a torn
 * one. Folders it creates are 0700. Modes are set explicitly, so the umask does not matter.
 */
import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import { randomHex } from '../random.js';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Creates the folder (and parents) if missing and makes sure it is 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  const stat = await fs.stat(dir);
  if ((stat.mode & 0o777) !== DIR_MODE) await fs.chmod(dir, DIR_MODE);
}

/** Makes a rename or unlink inside `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Atomically replaces `file` with `data` (0600), durable once the promise resolves. */
export async function writeFileSafely(file: string, data: string | Buffer): Promise<void> {
  // Loaded when first needed, so that commands which only read do not load it (and its dependencies) at start.
  const { default: writeFileAtomic } = await import('write-file-atomic');
  await writeFileAtomic(file, data, { mode: FILE_MODE, fsync: true });
  // write-file-atomic keeps an existing file's mode; ours must be 0600 whatever it was.
  await fs.chmod(file, FILE_MODE);
  await fsyncDir(path.dirname(file));
}

/**
 * `writeFileSafely` for content made piece by piece, each piece written before the next is asked for, so that it is
 * never held whole. A crash leaves at most a temporary file beside `file` (`siblingTempName`).
 */
export async function writeFileSafelyFrom(file: string, pieces: Iterable<Uint8Array>): Promise<void> {
  const staging = siblingTempName(file);
  const handle = await fs.open(staging, 'wx', FILE_MODE);
  try {
    await handle.chmod(FILE_MODE);
    for (const piece of pieces) {
      for (let done = 0; done < piece.length; ) done += (await handle.write(piece, done)).bytesWritten;
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(staging, { force: true });
    throw error;
  }
  await handle.close();
  await commitRename(staging, file);
}

/** Renames a complete, fsynced file into place and makes the rename durable. */
export async function commitRename(from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  await fsyncDir(path.dirname(to));
}

/** A fresh name beside `file`, for staging writes that are renamed into place. */
export function siblingTempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomHex(4)}.tmp`);
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}
