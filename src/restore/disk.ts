/**
 * What is at a restore destination now, read from metadata only (lstat, readdir: no file is read), sorted into:
 *
 * - `present`: every path the restore decides about: the paths of the backup's state, and every other path that
 *   will be deleted (listed down to the leaves, so the plan can name them);
 * - `kept`: paths the backup never covered, which the restore leaves as they are: paths the service's exclude
 *   patterns match, sockets/FIFOs/devices, and names that are not valid UTF-8, when their folder is a folder of
 *   the restored state. They are carried into the new tree by hard link at swap time.
 *
 * Its own walk rather than the backup scanner's, because the scanner leaves out exactly what a restore must see to
 * keep it (excluded, special and undecodable entries). Synchronous, for the same reason as the scanner: a
 * synchronous walk of many small entries is several times faster than gathered promises.
 */
import fs from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import type { BackupState } from '../archive/state.js';
import { ioError } from '../errors.js';
import type { RestoreRoot } from './roots.js';
import { SCRATCH_PREFIX } from './swap.js';

export type DiskType = 'file' | 'dir' | 'symlink' | 'special';

export interface DiskEntry {
  /** Archive path (`<service>/<part>/<name>/...`). */
  path: string;
  absolute: string;
  type: DiskType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  dev: number;
  ino: number;
  link?: string;
}

export interface KeptEntry {
  /** Archive path of the folder it is in. */
  parent: string;
  /** Its name as on disk (raw bytes: it may not be valid UTF-8). */
  name: Buffer;
  reason: 'excluded' | 'special' | 'undecodable';
}

export interface DestinationScan {
  root: RestoreRoot;
  /** False when nothing is at the destination (a lost disk, a new target). */
  exists: boolean;
  present: DiskEntry[];
  kept: KeptEntry[];
}

function diskType(stat: fs.Stats): DiskType {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'dir';
  if (stat.isSymbolicLink()) return 'symlink';
  return 'special';
}

function toEntry(archivePath: string, absolute: string, stat: fs.Stats): DiskEntry {
  const type = diskType(stat);
  const entry: DiskEntry = {
    path: archivePath,
    absolute,
    type,
    mode: stat.mode & 0o7777,
    uid: stat.uid,
    gid: stat.gid,
    size: type === 'file' ? stat.size : 0,
    mtimeMs: stat.mtimeMs,
    dev: stat.dev,
    ino: stat.ino,
  };
  if (type === 'symlink') entry.link = fs.readlinkSync(absolute);
  return entry;
}

/** A name that does not survive decoding as UTF-8 cannot be addressed through a JS string path. */
function decode(name: Buffer): string | undefined {
  const text = name.toString('utf8');
  return Buffer.from(text, 'utf8').equals(name) ? text : undefined;
}

/**
 * Walks `root.destination`. `state` is the state being restored: a folder of the state is descended into and what
 * the backup lacks there is kept or deleted; anything else is listed whole, to be deleted. With `listPresent` false,
 * `present` stays empty (only `kept` is wanted).
 */
export function scanDestination(root: RestoreRoot, state: BackupState, listPresent = true): DestinationScan {
  const result: DestinationScan = { root, exists: false, present: [], kept: [] };
  let rootStat: fs.Stats;
  try {
    rootStat = fs.lstatSync(root.destination);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw ioError('reading', root.destination, error);
  }
  result.exists = true;
  if (listPresent) result.present.push(toEntry(root.archiveRoot, root.destination, rootStat));
  if (!rootStat.isDirectory()) return result;

  const rules: Ignore | undefined = root.exclude.length > 0 ? ignore().add([...root.exclude]) : undefined;
  // Each folder: its absolute path, its path relative to the root, and whether the state has it as a folder.
  const stack: { absolute: string; relative: string; inState: boolean }[] = [
    { absolute: root.destination, relative: '', inState: state.get(root.archiveRoot)?.type === 'dir' },
  ];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const parentPath = dir.relative === '' ? root.archiveRoot : `${root.archiveRoot}/${dir.relative}`;
    let names: Buffer[];
    try {
      names = fs.readdirSync(dir.absolute, { encoding: 'buffer' }).sort((a, b) => Buffer.compare(a, b));
    } catch (error) {
      throw ioError('reading the folder', dir.absolute, error);
    }
    for (const raw of names) {
      const name = decode(raw);
      if (name?.startsWith(SCRATCH_PREFIX)) continue; // A restore's own staging folder (a mount point's contents).
      if (name === undefined) {
        // Not addressable as a string; it can only be kept (in a restored folder) or go with its folder.
        if (dir.inState) result.kept.push({ parent: parentPath, name: raw, reason: 'undecodable' });
        continue;
      }
      const absolute = path.join(dir.absolute, name);
      const relative = dir.relative === '' ? name : `${dir.relative}/${name}`;
      const archivePath = `${root.archiveRoot}/${relative}`;
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(absolute);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw ioError('reading', absolute, error);
      }
      const wanted = state.get(archivePath);
      if (dir.inState && !wanted) {
        const type = diskType(stat);
        if (type === 'special') {
          result.kept.push({ parent: parentPath, name: raw, reason: 'special' });
          continue;
        }
        if (rules?.ignores(type === 'dir' ? `${relative}/` : relative)) {
          result.kept.push({ parent: parentPath, name: raw, reason: 'excluded' });
          continue;
        }
      }
      if (listPresent) result.present.push(toEntry(archivePath, absolute, stat));
      if (stat.isDirectory()) stack.push({ absolute, relative, inState: dir.inState && wanted?.type === 'dir' });
    }
  }
  return result;
}

/**
 * Only the kept entries of a destination, for carrying them into the new tree at swap time, without listing every
 * present entry again (an object with two paths each: 62,000 of them for the largest folder of the bench data).
 */
export function keptEntries(root: RestoreRoot, state: BackupState): KeptEntry[] {
  return scanDestination(root, state, false).kept;
}
