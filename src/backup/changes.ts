/**
 * Change detection for incremental backups, from metadata alone (restic's `fileChanged` is the model): an entry is
 * unchanged when its type, size, mtime, ctime, inode, mode, owner and link target all match the state it had in the
 * previous backup of the chain. No file is read to decide. ctime catches what mtime can be made to hide (a touch
 * back to an old time, a chmod); the inode catches a file replaced by another of the same size and time.
 */
import type { CompactState, EntryFacts } from '../archive/compact-state.js';
import type { ScannedEntry } from '../walk/scan.js';

export type ChangeReason = 'new' | 'type' | 'size' | 'mtime' | 'ctime' | 'inode' | 'mode' | 'owner' | 'link';

/** Why `current` differs from `previous`, or undefined when it does not. */
export function entryChange(previous: EntryFacts | undefined, current: ScannedEntry): ChangeReason | undefined {
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
 * every file whose metadata matches, with the SHA-256 the state recorded, for filesystems whose timestamps cannot
 * be trusted.
 */
export function diffAgainstState(
  previous: CompactState,
  scanned: readonly ScannedEntry[],
  contentChanged?: (previousSha256: string | undefined, current: ScannedEntry) => boolean,
): ChangeSet {
  const changed: ScannedEntry[] = [];
  const present = new Uint8Array(previous.length);
  const paths = previous.paths;
  let next = 0;
  let unchanged = 0;
  // The scan and the state come in the same order (archive order) except where paths were added or removed, so
  // both are walked in step, and paths are looked up only where they part: hashing 77k paths showed in profiles.
  // The lookup table is the diff's own, made on first need, and let go with it.
  let positions: Map<string, number> | undefined;
  const positionOf = (path: string): number => {
    if (!positions) {
      positions = new Map();
      for (let i = 0; i < paths.length; i++) positions.set(paths[i]!, i);
    }
    return positions.get(path) ?? -1;
  };
  for (const entry of scanned) {
    const i = paths[next] === entry.path ? next : positionOf(entry.path);
    if (i < 0) {
      changed.push(entry);
      continue;
    }
    present[i] = 1;
    next = i + 1;
    // The same path, once: the comparison made the scan's copy a flat string of its own, which can now go.
    entry.path = paths[i]!;
    const reason = entryChange(previous.facts(i), entry);
    if (reason !== undefined || (entry.type === 'file' && contentChanged?.(previous.sha256(i), entry))) changed.push(entry);
    else unchanged++;
  }
  const deleted: string[] = [];
  for (let i = 0; i < previous.length; i++) if (present[i] === 0) deleted.push(paths[i]!);
  return { changed, deleted, unchanged };
}
