/**
 * The entries a backup is about to pack, held compactly between the scan and the packing: the scan's archive paths
 * and their metadata in typed columns, instead of one object (with boxed numbers and a second, absolute path) per
 * entry. The whole list of a large platform waits in memory while the first files are packed, so its size per entry
 * decides how peak memory grows with the number of files: about 100 bytes here against about 400 as scanned.
 * Packing takes the entries back one at a time, as short-lived objects.
 */
import type { EntryType } from './manifest.js';
import type { PackEntry } from './pack.js';
import type { ScanRoot, ScannedEntry } from '../walk/scan.js';

const TYPES: readonly EntryType[] = ['file', 'dir', 'symlink', 'hardlink'];
/** Numbers per entry, in this order. */
const FIELDS = 8;
const [MODE, UID, GID, MTIME, SIZE, DEV, INO, CTIME] = [0, 1, 2, 3, 4, 5, 6, 7];

export class PackList implements Iterable<PackEntry> {
  readonly length: number;
  readonly files: number;
  readonly fileBytes: number;
  readonly #roots: readonly ScanRoot[];
  readonly #paths: string[];
  readonly #root: Uint16Array;
  readonly #type: Uint8Array;
  readonly #numbers: Float64Array;
  readonly #links = new Map<number, string>();

  /** `entries` as scanned from `roots` (each entry's path starts with its root's archive path). */
  constructor(entries: readonly ScannedEntry[], roots: readonly ScanRoot[]) {
    this.length = entries.length;
    this.#roots = roots;
    this.#paths = new Array<string>(entries.length);
    this.#root = new Uint16Array(entries.length);
    this.#type = new Uint8Array(entries.length);
    this.#numbers = new Float64Array(entries.length * FIELDS);
    let files = 0;
    let fileBytes = 0;
    let root = 0;
    entries.forEach((entry, i) => {
      // Entries come root by root, in the order of `roots`.
      while (!within(entry.path, roots[root]!.archiveRoot)) root++;
      this.#paths[i] = entry.path;
      this.#root[i] = root;
      this.#type[i] = TYPES.indexOf(entry.type);
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
        files++;
        fileBytes += entry.size;
      }
    });
    this.files = files;
    this.fileBytes = fileBytes;
  }

  entry(i: number): PackEntry {
    const root = this.#roots[this.#root[i]!]!;
    const path = this.#paths[i]!;
    const n = this.#numbers;
    const at = i * FIELDS;
    const entry: PackEntry = {
      path,
      absolute: root.absolute + path.slice(root.archiveRoot.length),
      type: TYPES[this.#type[i]!]!,
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
    for (let i = 0; i < this.length; i++) yield this.entry(i);
  }
}

function within(path: string, archiveRoot: string): boolean {
  return path === archiveRoot || (path.startsWith(archiveRoot) && path[archiveRoot.length] === '/');
}
