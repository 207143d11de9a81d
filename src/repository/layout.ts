/**
 * The backup directory, exactly as the user's document draws it:
 *
 *   backup/
 *   ├── archives/        one archive (and its manifest copy) per backup
 *   ├── temp/            staging for backup and restore; leftovers of killed commands are swept
 *   ├── metadata.json    the index of backups
 *   └── schedules.json   the schedules
 *
 * plus `.lock`, the inter-process lock that serialises writes to the two JSON files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../fsutil/safe-write.js';
import { tightenModes } from './modes.js';

export interface BackupLayout {
  root: string;
  archives: string;
  temp: string;
  metadata: string;
  schedules: string;
  /** Lock path for read-modify-write of metadata.json and schedules.json. */
  indexLock: string;
}

export function backupLayout(backupDir: string): BackupLayout {
  return {
    root: backupDir,
    archives: path.join(backupDir, 'archives'),
    temp: path.join(backupDir, 'temp'),
    metadata: path.join(backupDir, 'metadata.json'),
    schedules: path.join(backupDir, 'schedules.json'),
    indexLock: path.join(backupDir, '.lock'),
  };
}

/**
 * Creates the folders a writing command needs, all 0700, and tightens any looser mode found on what exists (see
 * modes.ts). Returns one warning per mode tightened, for the command to report. Reading commands never call this.
 */
export async function ensureLayout(layout: BackupLayout): Promise<string[]> {
  const tightened = await tightenModes(layout);
  await ensurePrivateDir(layout.root);
  await ensurePrivateDir(layout.archives);
  await ensurePrivateDir(layout.temp);
  return tightened;
}

/** Removes the folders `ensureLayout` made, where nothing has been put in them since (a first backup that failed). */
export async function removeEmptyLayout(layout: BackupLayout): Promise<void> {
  for (const dir of [layout.temp, layout.archives, layout.root]) await fs.rmdir(dir).catch(() => undefined);
}
