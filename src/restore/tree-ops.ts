/**
 * Whole-tree operations the restore needs and Node lacks: removing a tree whatever its folders' modes, carrying an
 * entry into a new tree by hard link (so a kept file stays the same file), and flushing a filesystem before a swap
 * (`sync -f`, one call per filesystem, where an fsync per file would cost minutes on many small files).
 * Paths may be Buffers: a kept name need not be valid UTF-8.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { errnoCode } from '../errors.js';

const execFileAsync = promisify(execFile);

export type AnyPath = string | Buffer;

export function joinPath(dir: AnyPath, name: AnyPath): AnyPath {
  if (typeof dir === 'string' && typeof name === 'string') return `${dir}/${name}`;
  return Buffer.concat([Buffer.from(dir), Buffer.from('/'), Buffer.from(name)]);
}

export function pathExists(p: AnyPath): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return false;
    throw error;
  }
}

/** Gives the owner full access to every folder of a tree, so it can be removed without being root. */
function openUp(p: AnyPath): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!stat.isDirectory()) return;
  if ((stat.mode & 0o700) !== 0o700) fs.chmodSync(p, (stat.mode & 0o7777) | 0o700);
  for (const name of fs.readdirSync(p, { encoding: 'buffer' })) openUp(joinPath(p, name));
}

/** Removes a file or tree; missing is fine. */
export function removeTree(p: AnyPath): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
    return;
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
  }
  openUp(p);
  fs.rmSync(p, { recursive: true, force: true });
}

/** Sets owner, mode and times of `p` as they are on `stat` (folders after their contents were added). */
export function copyMetadata(p: AnyPath, stat: fs.Stats, asRoot: boolean): void {
  if (asRoot) fs.lchownSync(p, stat.uid, stat.gid);
  if (!stat.isSymbolicLink()) fs.chmodSync(p, stat.mode & 0o7777);
  fs.lutimesSync(p, stat.atime, stat.mtime);
}

/**
 * Puts `source` (a live entry) at `dest` (in the new tree) as the same file: a hard link for anything but a
 * folder, which is recreated with its contents linked. Falls back to a copy where hard links are refused.
 */
export function carryOver(source: AnyPath, dest: AnyPath, asRoot: boolean): void {
  const stat = fs.lstatSync(source);
  if (stat.isDirectory()) {
    fs.mkdirSync(dest, { mode: 0o700 });
    for (const name of fs.readdirSync(source, { encoding: 'buffer' })) carryOver(joinPath(source, name), joinPath(dest, name), asRoot);
    copyMetadata(dest, stat, asRoot);
    return;
  }
  try {
    fs.linkSync(source, dest);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'EPERM' && code !== 'EXDEV' && code !== 'EMLINK' && code !== 'ENOTSUP') throw error;
    if (stat.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(source), dest);
    else if (stat.isFile()) fs.copyFileSync(source, dest, fs.constants.COPYFILE_EXCL);
    else throw error;
    copyMetadata(dest, stat, asRoot);
  }
}

/** Makes everything written under `paths` durable: `sync -f` flushes each one's filesystem, else `sync` all. */
export async function flushFilesystems(paths: readonly string[]): Promise<boolean> {
  if (paths.length === 0) return true;
  try {
    await execFileAsync('sync', ['-f', ...paths]);
    return true;
  } catch {
    try {
      await execFileAsync('sync', []);
      return true;
    } catch {
      return false;
    }
  }
}
