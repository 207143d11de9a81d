/**
 * The entries a backup is about to pack, filled by the scan as it goes and held compactly until packed: archive
 * paths and their metadata in typed columns, instead of one object (with boxed numbers and a second, absolute path)
 * per entry. The whole list of a large platform waits in memory while the first files are packed, so its size per
 * entry decides how peak memory grows with the number of files: about 100 bytes here against about 400 as objects.
 * Packing takes the entries back one at a time, as short-lived objects; the read-ahead looks further on by position
 * (`isFile`, `sizeOf`, `absoluteOf`) without making any.
 *
 * A list may be packed while it is still being filled: its feed (the scan, backup/scan-ahead.ts) is walked on
 * whenever the packer has caught up with it, until the list is complete.
 */
import { ENTRY_TYPES } from './manifest.js';
import type { PackEntry } from './pack.js';
import type { ScanRoot, ScannedEntry } from '../walk/scan.js';

/** Numbers per entry, in this order. */
const FIELDS = 8;
const [MODE, UID, GID, MTIME, SIZE, DEV, INO, CTIME] = [0, 1, 2, 3, 4, 5, 6, 7];
const FILE = ENTRY_TYPES.indexOf('file');

/** What fills pack lists while they are packed. */
export interface PackListFeed {
  /**
   * Finds some more entries, for this list or the ones after it. Each call makes progress: the lists it fills are
   * completed when it has nothing more for them.
   */
  walkOn(): void;
}

export class PackList implements Iterable<PackEntry> {
  #length = 0;
  #files = 0;
  #fileBytes = 0;
  readonly #roots: readonly ScanRoot[];
  #currentRoot = 0;
  readonly #paths: string[] = [];
  #root = new Uint16Array(1024);
  #type = new Uint8Array(1024);
  #numbers = new Float64Array(1024 * FIELDS);
  readonly #links = new Map<number, string>();
  readonly #feed: PackListFeed | undefined;
  #complete: boolean;

  /**
   * An empty list for entries scanned from `roots`, added in scan order (root by root, as `roots` are ordered).
   * With a `feed`, the list fills as it is read, until `complete()`.
   */
  constructor(roots: readonly ScanRoot[], feed?: PackListFeed) {
    this.#roots = roots;
    this.#feed = feed;
    this.#complete = feed === undefined;
  }

  /** Entries in the list so far. */
  get length(): number {
    return this.#length;
  }

  /** Nothing more will be added. */
  complete(): void {
    this.#complete = true;
  }

  /** Whether entry `i` is, or comes to be, in the list: the feed is walked on until it is or the list is complete. */
  has(i: number): boolean {
    while (i >= this.#length && !this.#complete) this.#feed!.walkOn();
    return i < this.#length;
  }

  /** Files among the entries so far, and their bytes. */
  get files(): number {
    return this.#files;
  }

  get fileBytes(): number {
    return this.#fileBytes;
  }

  add(entry: ScannedEntry): void {
    const i = this.#length++;
    if (i === this.#type.length) this.#grow();
    while (!within(entry.path, this.#roots[this.#currentRoot]!.archiveRoot)) this.#currentRoot++;
    this.#paths.push(entry.path);
    this.#root[i] = this.#currentRoot;
    this.#type[i] = ENTRY_TYPES.indexOf(entry.type);
    const n = this.#numbers;
    const at = i * FIELDS;
    n[at + MODE] = entry.mode;
    n[at + UID] = entry.uid;
    n[at + GID] = entry.gid;
    n[at + MTIME] = entry.mtimeMs;
    n[at + SIZE] = entry.size;
    n[at + DEV] = entry.dev;
    n[at + INO] = entry.ino;
    n[at + CTIME] = entry.ctimeMs;
    if (entry.link !== undefined) this.#links.set(i, entry.link);
    if (entry.type === 'file') {
      this.#files++;
      this.#fileBytes += entry.size;
    }
  }

  #grow(): void {
    const capacity = this.#type.length * 2;
    const root = new Uint16Array(capacity);
    root.set(this.#root);
    this.#root = root;
    const type = new Uint8Array(capacity);
    type.set(this.#type);
    this.#type = type;
    const numbers = new Float64Array(capacity * FIELDS);
    numbers.set(this.#numbers);
    this.#numbers = numbers;
  }

  isFile(i: number): boolean {
    return this.#type[i] === FILE;
  }

  /** Entry `i`'s size in bytes (a file's content; 0 for the others). */
  sizeOf(i: number): number {
    return this.#numbers[i * FIELDS + SIZE]!;
  }

  absoluteOf(i: number): string {
    const root = this.#roots[this.#root[i]!]!;
    return root.absolute + this.#paths[i]!.slice(root.archiveRoot.length);
  }

  /** Entry `i`, as a new object. */
  at(i: number): PackEntry {
    const path = this.#paths[i]!;
    const n = this.#numbers;
    const at = i * FIELDS;
    const entry: PackEntry = {
      path,
      absolute: this.absoluteOf(i),
      type: ENTRY_TYPES[this.#type[i]!]!,
      mode: n[at + MODE]!,
      uid: n[at + UID]!,
      gid: n[at + GID]!,
      mtimeMs: n[at + MTIME]!,
      size: n[at + SIZE]!,
      dev: n[at + DEV]!,
      ino: n[at + INO]!,
      ctimeMs: n[at + CTIME]!,
    };
    const link = this.#links.get(i);
    if (link !== undefined) entry.link = link;
    return entry;
  }

  *[Symbol.iterator](): Iterator<PackEntry> {
    for (let i = 0; this.has(i); i++) yield this.at(i);
  }
}

function within(path: string, archiveRoot: string): boolean {
  return path === archiveRoot || (path.startsWith(archiveRoot) && path[archiveRoot.length] === '/');
}
