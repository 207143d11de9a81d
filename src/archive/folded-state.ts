/**
 * A chain's state as a restore holds it: `foldChain`'s map (state.ts), with the same order and the same entries, but
 * held column by column (one typed array per field, the paths in one array) and folded from manifests as they
 * stream, entry by entry. As objects, a state cost about 600 bytes an entry and grew with the dataset (46 MB for
 * 77k entries, twice that for 154k), and was most of a restore's peak memory; as columns it costs about 130 bytes, outside the JS heap.
 *
 * The paths are a `PathTable` (outside the JS heap, front-coded); owners and modes are 32 bits, what is a double in
 * a manifest stays a double. It reads as a `ReadonlyMap<string, StateEntry>`: each entry is made when asked for, so a
 * caller holds only the entries it works on. `indexOf` and `entryAt` address entries by slot, for a caller that marks entries in a typed
 * array of its own (`slots` long) instead of a set of paths.
 *
 * Folding: `begin` each manifest (its header: its deleted paths go), then `add` its entries. A changed path keeps its
 * slot, a new one takes the next; a deleted slot stays empty, so the order is a Map's.
 */
import { BackupError } from '../errors.js';
import { ENTRY_TYPES, SHA256_HEX, type Manifest, type ManifestEntry } from './manifest.js';
import type { StateEntry } from './state.js';
import { isWellFormed, PathTable } from './path-table.js';
import { releaseBuffer } from './release.js';

const SHA256_BYTES = 32;
const HAS_SHA256 = 1;
const CHANGED_WHILE_READING = 2;
/** `storedIn` is an index into the backup ids seen; a chain is far shorter than this. */
const MAX_BACKUPS = 0xffff;

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

export class FoldedState implements ReadonlyMap<string, StateEntry> {
  /** Each slot's path; a deleted slot stays, empty. */
  readonly #paths = new PathTable();
  readonly #ids: string[] = [];
  readonly #idIndex = new Map<string, number>();
  #capacity = 0;
  #type = new Uint8Array(0);
  #flags = new Uint8Array(0);
  #storedIn = new Uint16Array(0);
  #mode = new Uint32Array(0);
  #uid = new Uint32Array(0);
  #gid = new Uint32Array(0);
  #mtime = new Float64Array(0);
  #size = new Float64Array(0);
  #dev = new Float64Array(0);
  #ino = new Float64Array(0);
  #ctime = new Float64Array(0);
  /** 32 bytes a slot, read and written as hex in place. */
  #sha256 = Buffer.alloc(0);
  /** Link targets by slot (symlinks and hard links only: few). */
  readonly #links = new Map<number, string>();
  /** The manifest being folded. */
  #current: string | undefined;

  readonly [Symbol.toStringTag] = 'FoldedState';

  /** A state of `entries` as they are (each with its `storedIn`), in their order. */
  static of(entries: Iterable<StateEntry>): FoldedState {
    const state = new FoldedState();
    state.begin({ id: '', deleted: [] });
    for (const entry of entries) state.add(entry);
    state.trim();
    return state;
  }

  get size(): number {
    return this.#paths.size;
  }

  /** Slots used so far, deleted ones included: the length of an array indexed by slot. */
  get slots(): number {
    return this.#paths.slots;
  }

  /** Starts folding `manifest` (its header; its entries follow through `add`): its deleted paths go. */
  begin(manifest: Pick<Manifest, 'id' | 'deleted'>): void {
    this.#current = manifest.id;
    for (const path of manifest.deleted ?? []) {
      const slot = this.#paths.find(path);
      if (slot < 0) continue;
      this.#paths.remove(slot);
      this.#links.delete(slot);
    }
  }

  /** An entry of the manifest begun last; `storedIn` defaults to that manifest. Entries must have a known type. */
  add(entry: ManifestEntry): void {
    const type = ENTRY_TYPES.indexOf(entry.type);
    if (type < 0) throw new BackupError('INTEGRITY', `entry ${entry.path} has an unknown type ${String(entry.type)}`, { path: entry.path });
    if (!isUint32(entry.mode) || !isUint32(entry.uid) || !isUint32(entry.gid)) {
      throw new BackupError('INTEGRITY', `entry ${entry.path} has an invalid mode or owner`, { path: entry.path });
    }
    if (typeof entry.path !== 'string' || !isWellFormed(entry.path)) {
      throw new BackupError('INTEGRITY', `entry ${JSON.stringify(entry.path)} has a path that is not well-formed Unicode`, { path: entry.path });
    }
    const slot = this.#paths.add(entry.path);
    if (slot === this.#capacity) this.#grow();
    this.#type[slot] = type;
    this.#storedIn[slot] = this.#idOf(entry.storedIn ?? this.#current!);
    this.#mode[slot] = entry.mode;
    this.#uid[slot] = entry.uid;
    this.#gid[slot] = entry.gid;
    this.#mtime[slot] = entry.mtimeMs;
    this.#size[slot] = entry.size;
    this.#dev[slot] = entry.dev;
    this.#ino[slot] = entry.ino;
    this.#ctime[slot] = entry.ctimeMs;
    let flags = entry.changedWhileReading === true ? CHANGED_WHILE_READING : 0;
    const sha256 = entry.sha256;
    // Anything but a lowercase hex SHA-256 (the safety checks refuse it for files) is kept as absent.
    if (typeof sha256 === 'string' && SHA256_HEX.test(sha256)) {
      this.#sha256.write(sha256, SHA256_BYTES * slot, SHA256_BYTES, 'hex');
      flags |= HAS_SHA256;
    }
    this.#flags[slot] = flags;
    if (typeof entry.link === 'string') this.#links.set(slot, entry.link);
    else this.#links.delete(slot);
  }

  /** The slot of `path`, or -1. */
  indexOf(path: string): number {
    return this.#paths.find(path);
  }

  /** The path in `slot`. */
  pathAt(slot: number): string {
    return this.#paths.pathAt(slot);
  }

  /** The type of the entry in `slot`, without making the entry. */
  typeAt(slot: number): StateEntry['type'] {
    return ENTRY_TYPES[this.#type[slot]!]!;
  }

  sizeAt(slot: number): number {
    return this.#size[slot]!;
  }

  storedInAt(slot: number): string {
    return this.#ids[this.#storedIn[slot]!]!;
  }

  /** Whether `slot` holds an entry (it was not deleted since). */
  holds(slot: number): boolean {
    return this.#paths.has(slot);
  }

  /** The entry in `slot` (a slot `indexOf` gave). */
  entryAt(slot: number): StateEntry {
    const flags = this.#flags[slot]!;
    const entry: StateEntry = {
      path: this.#paths.pathAt(slot),
      type: this.typeAt(slot),
      mode: this.#mode[slot]!,
      uid: this.#uid[slot]!,
      gid: this.#gid[slot]!,
      mtimeMs: this.#mtime[slot]!,
      size: this.#size[slot]!,
      dev: this.#dev[slot]!,
      ino: this.#ino[slot]!,
      ctimeMs: this.#ctime[slot]!,
      storedIn: this.storedInAt(slot),
    };
    if (flags & HAS_SHA256) entry.sha256 = this.#sha256.toString('hex', SHA256_BYTES * slot, SHA256_BYTES * (slot + 1));
    const link = this.#links.get(slot);
    if (link !== undefined) entry.link = link;
    if (flags & CHANGED_WHILE_READING) entry.changedWhileReading = true;
    return entry;
  }

  get(path: string): StateEntry | undefined {
    const slot = this.#paths.find(path);
    return slot < 0 ? undefined : this.entryAt(slot);
  }

  has(path: string): boolean {
    return this.#paths.find(path) >= 0;
  }

  *keys(): MapIterator<string> {
    for (let slot = 0; slot < this.#paths.slots; slot++) if (this.#paths.has(slot)) yield this.#paths.pathAt(slot);
  }

  *values(): MapIterator<StateEntry> {
    for (let slot = 0; slot < this.#paths.slots; slot++) if (this.#paths.has(slot)) yield this.entryAt(slot);
  }

  *entries(): MapIterator<[string, StateEntry]> {
    for (const entry of this.values()) yield [entry.path, entry];
  }

  [Symbol.iterator](): MapIterator<[string, StateEntry]> {
    return this.entries();
  }

  forEach(callback: (value: StateEntry, key: string, map: ReadonlyMap<string, StateEntry>) => void, thisArg?: unknown): void {
    for (const [path, entry] of this.entries()) callback.call(thisArg, entry, path, this);
  }

  #idOf(id: string): number {
    let index = this.#idIndex.get(id);
    if (index === undefined) {
      if (this.#ids.length === MAX_BACKUPS) throw new BackupError('INTEGRITY', `the chain names more than ${MAX_BACKUPS} backups`, {});
      index = this.#ids.push(id) - 1;
      this.#idIndex.set(id, index);
    }
    return index;
  }

  /**
   * Ends a fold: the columns shrink to the entries they hold (doubling leaves up to half of them empty, a tenth of a
   * restore's peak memory at 154k entries).
   */
  trim(): void {
    this.#resize(this.#paths.slots);
    this.#paths.trim();
  }

  #grow(): void {
    this.#resize(Math.max(1024, 2 * this.#capacity));
  }

  /** The old columns are freed at once (release.ts): left to the collector, they made the peak of a restore of 153k entries. */
  #resize(capacity: number): void {
    if (capacity === this.#capacity) return;
    const grown = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(old: T, make: new (n: number) => T): T => {
      const next = new make(capacity);
      next.set(old.subarray(0, Math.min(old.length, capacity)));
      releaseBuffer(old.buffer);
      return next;
    };
    this.#type = grown(this.#type, Uint8Array);
    this.#flags = grown(this.#flags, Uint8Array);
    this.#storedIn = grown(this.#storedIn, Uint16Array);
    this.#mode = grown(this.#mode, Uint32Array);
    this.#uid = grown(this.#uid, Uint32Array);
    this.#gid = grown(this.#gid, Uint32Array);
    this.#mtime = grown(this.#mtime, Float64Array);
    this.#size = grown(this.#size, Float64Array);
    this.#dev = grown(this.#dev, Float64Array);
    this.#ino = grown(this.#ino, Float64Array);
    this.#ctime = grown(this.#ctime, Float64Array);
    const sha256 = Buffer.alloc(capacity * SHA256_BYTES);
    this.#sha256.copy(sha256, 0, 0, Math.min(this.#sha256.length, sha256.length));
    releaseBuffer(this.#sha256.buffer);
    this.#sha256 = sha256;
    this.#capacity = capacity;
  }
}
