/**
 * Change detection for incremental backups, from metadata alone (restic's `fileChanged` is the model): an entry is
 * unchanged when its type, size, mtime, ctime, inode, mode, owner and link target all match the state it had in the
 * previous backup of the chain. No file is read to decide. ctime catches what mtime can be made to hide (a touch
 * back to an old time, a chmod); the inode catches a file replaced by another of the same size and time.
 */
import type { StateEntry, BackupState } from '../archive/state.js';
import type { ScannedEntry } from '../walk/scan.js';

export type ChangeReason = 'new' | 'type' | 'size' | 'mtime' | 'ctime' | 'inode' | 'mode' | 'owner' | 'link';

/** Why `current` differs from `previous`, or undefined when it does not. */
export function entryChange(previous: StateEntry | undefined, current: ScannedEntry): ChangeReason | undefined {
  if (!previous) return 'new';
  if (previous.type !== current.type) return 'type';
  if (current.type === 'file' && previous.size !== current.size) return 'size';
  if (previous.mtimeMs !== current.mtimeMs) return 'mtime';
  if (previous.mode !== current.mode) return 'mode';
  if (previous.uid !== current.uid || previous.gid !== current.gid) return 'owner';
  if ((previous.link ?? undefined) !== (current.link ?? undefined)) return 'link';
  if (current.type === 'file' || current.type === 'hardlink') {
    if (previous.ctimeMs !== current.ctimeMs) return 'ctime';
    if (previous.ino !== current.ino) return 'inode';
  }
  return undefined;
}

export interface ChangeSet {
  /** Entries to store in the new archive, in archive order. */
  changed: ScannedEntry[];
  /** Paths of the previous state that no longer exist, in state order. */
  deleted: string[];
  unchanged: number;
}

/**
 * Splits a fresh scan against the previous state. `contentChanged`, when given (--verify-content), is asked about
 * every file whose metadata matches, for filesystems whose timestamps cannot be trusted.
 */
export function diffAgainstState(
  previous: BackupState,
  scanned: readonly ScannedEntry[],
  contentChanged?: (previous: StateEntry, current: ScannedEntry) => boolean,
): ChangeSet {
  const changed: ScannedEntry[] = [];
  // Objects, not path strings, mark what is still present: hashing 100k long paths twice showed in profiles.
  const present = new Set<StateEntry>();
  let unchanged = 0;
  for (const entry of scanned) {
    const before = previous.get(entry.path);
    if (before) present.add(before);
    const reason = entryChange(before, entry);
    if (reason !== undefined || (before && entry.type === 'file' && contentChanged?.(before, entry))) changed.push(entry);
    else unchanged++;
  }
  const deleted: string[] = [];
  for (const [path, entry] of previous) if (!present.has(entry)) deleted.push(path);
  return { changed, deleted, unchanged };
}
