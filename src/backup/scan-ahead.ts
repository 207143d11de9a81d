/**
 * The scan of a backup, walked along with the packing instead of all before it. Both run on the main thread, but
 * packing hands its blocks to the compressing workers: while the whole scan came first (about 0.5 s of system calls
 * for 71,000 files), those workers had nothing to do, and an incremental started packing its changed files only once
 * the last folder was listed.
 *
 * The groups (one per service, then the platform's own file) are walked in order, each into its pack list. The walk
 * goes on whenever the packer has caught up with what it found (pack-list.ts `has`), and besides runs a stretch ahead
 * each time a little has been packed, so that the read-ahead knows what lies ahead, up to AHEAD_ENTRIES entries
 * ahead of the packer: the lists then hold that many entries at most, whatever the size of the platform.
 *
 * Nothing is committed before the whole tree has been walked: a problem that refuses the backup (an unreadable file)
 * stops it once the walk has found every such problem, with what was written so far thrown away.
 */
import type { PackListFeed } from '../archive/pack-list.js';
import { PackList } from '../archive/pack-list.js';
import { TreeWalk, type ScanProblem, type ScanRoot, type ScannedEntry } from '../walk/scan.js';

/** Names looked at per stretch of the walk: about 15 ms here. */
const STRETCH = 2048;
/** One stretch ahead each time this many entries, or this many bytes, have been packed. */
const PACKED_ENTRIES_PER_STRETCH = 256;
const PACKED_BYTES_PER_STRETCH = 1 << 20;
/**
 * Entries found and not packed yet, at most, for the walk to go on ahead of the packer: what the lists hold then
 * does not grow with the platform (a full backup's lists held every entry, about 200 bytes each with its path), and
 * it is still twice what the read-ahead looks at.
 */
const AHEAD_ENTRIES = 16_384;

export interface ScanAheadOptions {
  /** Absolute paths never entered (the backup directory). */
  skip: ReadonlySet<string>;
  /** Whether an entry is to be packed (an incremental's diff); default every entry. */
  keep?: (entry: ScannedEntry) => boolean;
  /** Asked after each stretch that found problems: the error to stop the backup with, if any. */
  refuse?: (problems: readonly ScanProblem[]) => Error | undefined;
}

export class ScanAhead implements PackListFeed {
  readonly #options: ScanAheadOptions;
  /** The groups still to walk, from `#current` on: a walked group is let go, and its list with it once packed. */
  readonly #groups: ({ walk: TreeWalk; list: PackList } | undefined)[] = [];
  /** What the walked groups could not back up. */
  readonly #problems: ScanProblem[] = [];
  #current = 0;
  /** Files found to pack, and their bytes: the totals once the walk is finished. */
  files = 0;
  fileBytes = 0;
  #packedEntries = 0;
  #packedBytes = 0;
  /** Entries added to the lists, and entries packed. */
  #found = 0;
  #packed = 0;
  /** A refusal found by a stretch walked as spare work, for the packer's next call to throw. */
  #refusal: Error | undefined;

  constructor(options: ScanAheadOptions) {
    this.#options = options;
  }

  /** The pack list of `roots`, walked after the groups added before it. */
  group(roots: ScanRoot[]): PackList {
    const list = new PackList(roots, this);
    const walk = new TreeWalk(roots, this.#options.skip, (entry) => {
      if (this.#options.keep && !this.#options.keep(entry)) return;
      list.add(entry);
      this.#found++;
      if (entry.type === 'file') {
        this.files++;
        this.fileBytes += entry.size;
      }
    });
    this.#groups.push({ walk, list });
    return list;
  }

  get finished(): boolean {
    return this.#current === this.#groups.length;
  }

  /** What the walk could not back up, group by group. */
  get problems(): ScanProblem[] {
    return [...this.#problems, ...this.#groups.flatMap((g) => g?.walk.problems ?? [])];
  }

  walkOn(): void {
    if (this.#refusal) throw this.#refusal;
    if (!this.#stretch() || !this.#options.refuse) return;
    // The whole walk first, so that the refusal names every problem, as a refusal before packing did.
    while (!this.finished) this.#stretch();
    const error = this.#options.refuse(this.problems);
    if (error) throw error;
  }

  /** Walks one stretch; true when it found problems. */
  #stretch(): boolean {
    const group = this.#groups[this.#current];
    if (!group) return false;
    const problemsBefore = group.walk.problems.length;
    group.walk.walk(STRETCH);
    if (group.walk.finished) {
      group.list.complete();
      this.#problems.push(...group.walk.problems);
      this.#groups[this.#current++] = undefined;
    }
    return group.walk.problems.length > problemsBefore;
  }

  /**
   * A stretch of the walk as the compressors' spare work (archive/parallel-gzip.ts): false when the walk is done or
   * as far ahead as it goes. A refusal it finds is thrown at the packer's next call, not into the compressing stream.
   */
  spare(): boolean {
    if (this.finished || this.#refusal || this.#farAhead()) return false;
    try {
      this.walkOn();
    } catch (error) {
      this.#refusal = error as Error;
    }
    return true;
  }

  /**
   * After the packing: walks what is left (nothing, once every list has been packed to its end) and throws the
   * refusal a stretch found on the way, if it was not thrown yet.
   */
  finish(): void {
    do this.walkOn();
    while (!this.finished);
  }

  /** Told of each entry packed (a file's `size` bytes): keeps the walk ahead of the packer. */
  packed(size: number): void {
    if (this.#refusal) throw this.#refusal;
    this.#packed++;
    this.#packedEntries++;
    this.#packedBytes += size;
    if (this.#packedEntries < PACKED_ENTRIES_PER_STRETCH && this.#packedBytes < PACKED_BYTES_PER_STRETCH) return;
    this.#packedEntries = 0;
    this.#packedBytes = 0;
    if (!this.#farAhead()) this.walkOn();
  }

  /** Whether the walk is as far ahead of the packer as it goes on its own (the packer's pull still walks it on). */
  #farAhead(): boolean {
    return this.#found - this.#packed >= AHEAD_ENTRIES;
  }
}
