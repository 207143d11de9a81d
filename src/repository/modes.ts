/**
 * Permissions of the backup directory: files 0600, folders 0700, whatever the umask. What this tool writes gets
 * those modes as it is written; a mode found looser on what already exists (a copy made with `cp -r`, a hand-edited
 * index, a folder made by hand) is reported. Writing commands tighten it (`tightenModes`, through `ensureLayout`);
 * reading commands only report it (`findLooseModes`), since they must not write.
 *
 * Looser means open to anyone but the owner: any group or other bit. A stricter mode (0400) is left alone.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { DIR_MODE, FILE_MODE } from '../fsutil/safe-write.js';
import type { BackupLayout } from './layout.js';

export interface LooseMode {
  path: string;
  kind: 'file' | 'dir';
  /** Permission bits found. */
  mode: number;
}

const OPEN_TO_OTHERS = 0o077;

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

async function check(file: string, found: LooseMode[]): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(file);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  if (!stat.isFile() && !stat.isDirectory()) return;
  const mode = stat.mode & 0o777;
  if ((mode & OPEN_TO_OTHERS) !== 0) found.push({ path: file, kind: stat.isDirectory() ? 'dir' : 'file', mode });
}

/**
 * The backup directory's folders, index and schedules whose modes are looser than 0700/0600; with `archives`, also
 * every file in archives/ (one stat each, so only where the command reads the folder anyway).
 */
export async function findLooseModes(layout: BackupLayout, options: { archives?: boolean } = {}): Promise<LooseMode[]> {
  const found: LooseMode[] = [];
  for (const p of [layout.root, layout.archives, layout.temp, layout.metadata, layout.schedules]) await check(p, found);
  if (options.archives) {
    let names: string[] = [];
    try {
      names = await fs.readdir(layout.archives);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' && errnoCode(error) !== 'ENOTDIR') throw error;
    }
    for (const name of names) await check(path.join(layout.archives, name), found);
  }
  return found;
}

/** "… is open to other users (mode 0644)", then what was or is to be done. */
export function describeLooseMode(loose: LooseMode, tightened: boolean): string {
  const wanted = octal(loose.kind === 'dir' ? DIR_MODE : FILE_MODE);
  const what = `${loose.kind === 'dir' ? 'folder' : 'file'} ${loose.path} is open to other users (mode ${octal(loose.mode)})`;
  return tightened
    ? `${what}: tightened to ${wanted}`
    : `${what}: the next backup tightens it to ${wanted}, or run chmod ${wanted.slice(1)} ${loose.path}`;
}

/** Sets every loose mode found to 0600/0700 and returns one message per change. */
export async function tightenModes(layout: BackupLayout): Promise<string[]> {
  const messages: string[] = [];
  for (const loose of await findLooseModes(layout, { archives: true })) {
    try {
      await fs.chmod(loose.path, loose.kind === 'dir' ? DIR_MODE : FILE_MODE);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') continue; // Removed meanwhile by another command.
      throw error;
    }
    messages.push(describeLooseMode(loose, true));
  }
  return messages;
}
