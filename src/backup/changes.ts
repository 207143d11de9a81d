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

/** Asks, for --verify-content, whether a file whose metadata matches has other content than the recorded SHA-256. */
export type ContentCheck = (previousSha256: string | undefined, current: ScannedEntry) => boolean;

/**
 * The diff of a scan against the previous state, entry by entry as the scan goes (scan order), so that a scan can
 * let unchanged entries go at once (walk/scan.ts `keep`) and hold only what is to be stored. `contentChanged`, when
 * given (--verify-content), is asked about every file whose metadata matches, for filesystems whose timestamps
 * cannot be trusted.
 */
export class StateDiff {
  readonly #previous: CompactState;
  readonly #contentChanged: ContentCheck | undefined;
  readonly #present: Uint8Array;
  #next = 0;
  /** What the new state holds without storing it, counted. */
  readonly unchanged = { entries: 0, files: 0, bytes: 0 };

  constructor(previous: CompactState, contentChanged?: ContentCheck) {
    this.#previous = previous;
    this.#contentChanged = contentChanged;
    this.#present = new Uint8Array(previous.length);
  }

  /** Whether `entry` is new or changed (to be stored); either way it is noted as present. */
  changed(entry: ScannedEntry): boolean {
    // The scan and the state come in the same order (archive order) except where paths were added or removed, so
    // both are walked in step, and paths are looked up only where they part: hashing 77k paths showed in profiles.
    const i = this.#previous.pathEquals(this.#next, entry.path) ? this.#next : this.#previous.indexOf(entry.path);
    if (i < 0) return true;
    this.#present[i] = 1;
    this.#next = i + 1;
    if (entryChange(this.#previous.facts(i), entry) !== undefined) return true;
    if (entry.type === 'file' && this.#contentChanged?.(this.#previous.sha256(i), entry)) return true;
    this.unchanged.entries++;
    if (entry.type === 'file') {
      this.unchanged.files++;
      this.unchanged.bytes += entry.size;
    }
    return false;
  }

  /** Paths of the previous state that were not seen, in state order: once the whole scan went through `changed`. */
  deleted(): string[] {
    const deleted: string[] = [];
    this.#present.forEach((present, i) => {
      if (present === 0) deleted.push(this.#previous.path(i));
    });
    return deleted;
  }
}
