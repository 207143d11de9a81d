/**
 * The paths of a restore's state, by slot, held outside the JS heap: UTF-8, front-coded, with a hash table of our own.
 * As strings in an array with a Map from path to slot, a path cost about 200 bytes (137 for the string, the rest the
 * Map's table and the array) and V8 kept its heap half as large again as what it held: for the doubled benchmark
 * dataset, 28 MB of a restore's 43 MB of state. Here a path costs about 30 bytes: a state's paths come in archive
 * order, so each shares most of its bytes with the one before (its folder), and only the rest is stored.
 *
 * A path is stored as a record: the length of the prefix it shares with the previous path, the length of the rest,
 * and the rest. Every `RESTART`th record shares nothing, so any slot is decoded from at most that many records; a
 * cursor keeps the last slot decoded, so reading slots in order decodes each record once.
 *
 * Paths must be well-formed Unicode (no lone surrogate), so that a path and its UTF-8 bytes stand for each other.
 */
import { releaseBuffer } from './release.js';

const RESTART = 16;
declare global {
  interface String {
    /** ES2024, in Node since 20: no lone surrogate. */
    isWellFormed(): boolean;
  }
}

/** Whether `path` has no lone surrogate, which UTF-8 cannot hold as it is, so a `PathTable` can hold it. */
export function isWellFormed(path: string): boolean {
  return path.isWellFormed();
}

export class PathTable {
  /** The records, `#used` bytes of them. */
  #bytes = new Uint8Array(64 * 1024);
  #used = 0;
  /** Where each run of `RESTART` records begins. */
  #restarts = new Uint32Array(64);
  /** Each slot's hash, and whether it still holds its path (removed slots stay, empty). */
  #hashes = new Uint32Array(1024);
  #live = new Uint8Array(1024);
  #slots = 0;
  #size = 0;
  /** Open addressing: slot + 1 (0: free). Removed slots stay in it and are skipped. */
  #table = new Int32Array(2048);
  /** The bytes of the path looked up or added last, and its hash. */
  #query = Buffer.alloc(4096);
  #queryLength = 0;
  #queryHash = 0;
  /** The last path appended, for front-coding the next one. */
  #last = Buffer.alloc(4096);
  #lastLength = 0;
  /** The slot decoded last, its bytes, and where the next record starts. */
  #cursorSlot = -1;
  #cursor = Buffer.alloc(4096);
  #cursorLength = 0;
  #cursorNext = 0;

  /** Slots used so far, removed ones included. */
  get slots(): number {
    return this.#slots;
  }

  /** Paths held. */
  get size(): number {
    return this.#size;
  }

  /** The slot of `path`, or -1. */
  find(path: string): number {
    // A lone surrogate would be written as U+FFFD, and match a path that holds one.
    return isWellFormed(path) ? this.#lookup(path) : -1;
  }

  /** The slot of `path`, appended to a new slot if it is not held. Refuses a path that is not well-formed Unicode. */
  add(path: string): number {
    if (!isWellFormed(path)) throw new RangeError(`the path ${JSON.stringify(path)} is not well-formed Unicode`);
    const found = this.#lookup(path);
    // #lookup left the path's bytes in #query.
    return found >= 0 ? found : this.#append();
  }

  /** The slot of a well-formed `path`, or -1; its bytes and hash stay in #query. */
  #lookup(path: string): number {
    if (this.#query.length < 3 * path.length) this.#query = Buffer.alloc(6 * path.length);
    this.#queryLength = this.#query.write(path);
    this.#queryHash = fnv1a(this.#query, 0, this.#queryLength);
    const mask = this.#table.length - 1;
    for (let at = this.#queryHash & mask; ; at = (at + 1) & mask) {
      const held = this.#table[at]!;
      if (held === 0) return -1;
      const slot = held - 1;
      if (this.#hashes[slot] === this.#queryHash && this.#live[slot] === 1 && this.#matches(slot)) return slot;
    }
  }

  /** Empties `slot`: `find` no longer sees its path, and `has` says so. */
  remove(slot: number): void {
    if (this.#live[slot] !== 1) return;
    this.#live[slot] = 0;
    this.#size--;
  }

  has(slot: number): boolean {
    return this.#live[slot] === 1;
  }

  /** The path that `slot` holds or held. */
  pathAt(slot: number): string {
    this.#seek(slot);
    return this.#cursor.toString('utf8', 0, this.#cursorLength);
  }

  /** Ends the additions: the arrays shrink to what they hold (doubling leaves up to half of them empty). */
  trim(): void {
    this.#bytes = resized(this.#bytes, this.#used);
    this.#restarts = resized(this.#restarts, Math.ceil(this.#slots / RESTART));
    this.#hashes = resized(this.#hashes, this.#slots);
    this.#live = resized(this.#live, this.#slots);
  }

  #matches(slot: number): boolean {
    this.#seek(slot);
    const length = this.#queryLength;
    return this.#cursorLength === length && this.#cursor.compare(this.#query, 0, length, 0, length) === 0;
  }

  /** Appends #query as a new slot. */
  #append(): number {
    const slot = this.#slots;
    const length = this.#queryLength;
    if (slot === this.#hashes.length) {
      this.#hashes = resized(this.#hashes, Math.max(1024, 2 * slot));
      this.#live = resized(this.#live, Math.max(1024, 2 * slot));
    }
    let shared = 0;
    if (slot % RESTART === 0) {
      if (slot / RESTART === this.#restarts.length) this.#restarts = resized(this.#restarts, Math.max(64, 2 * this.#restarts.length));
      this.#restarts[slot / RESTART] = this.#used;
    } else {
      const limit = Math.min(length, this.#lastLength);
      while (shared < limit && this.#query[shared] === this.#last[shared]) shared++;
    }
    const rest = length - shared;
    if (this.#used + rest + 10 > this.#bytes.length) this.#bytes = resized(this.#bytes, 2 * (this.#used + rest + 10));
    this.#used = writeLength(this.#bytes, this.#used, shared);
    this.#used = writeLength(this.#bytes, this.#used, rest);
    this.#used += this.#query.copy(this.#bytes, this.#used, shared, length);
    if (this.#last.length < length) this.#last = Buffer.alloc(2 * length);
    this.#query.copy(this.#last, 0, 0, length);
    this.#lastLength = length;

    this.#hashes[slot] = this.#queryHash;
    this.#live[slot] = 1;
    this.#slots++;
    this.#size++;
    if (2 * this.#slots > this.#table.length) this.#rehash(2 * this.#table.length);
    else this.#place(slot);
    return slot;
  }

  #place(slot: number): void {
    const mask = this.#table.length - 1;
    let at = this.#hashes[slot]! & mask;
    while (this.#table[at] !== 0) at = (at + 1) & mask;
    this.#table[at] = slot + 1;
  }

  #rehash(size: number): void {
    releaseBuffer(this.#table.buffer);
    this.#table = new Int32Array(size);
    for (let slot = 0; slot < this.#slots; slot++) this.#place(slot);
  }

  /** Decodes `slot` into the cursor: from the cursor when it is at most a run behind, else from its run's start. */
  #seek(slot: number): void {
    if (slot === this.#cursorSlot) return;
    const runStart = slot - (slot % RESTART);
    let at: number;
    if (this.#cursorSlot >= runStart - 1 && this.#cursorSlot < slot) {
      at = this.#cursorSlot + 1;
    } else {
      at = runStart;
      this.#cursorNext = this.#restarts[runStart / RESTART]!;
    }
    let next = this.#cursorNext;
    const bytes = this.#bytes;
    let length = this.#cursorLength;
    for (; at <= slot; at++) {
      let shared = bytes[next++]!;
      if (shared >= 0x80) [shared, next] = readLength(bytes, next - 1);
      let rest = bytes[next++]!;
      if (rest >= 0x80) [rest, next] = readLength(bytes, next - 1);
      length = shared + rest;
      if (this.#cursor.length < length) {
        const grown = Buffer.alloc(2 * length);
        this.#cursor.copy(grown, 0, 0, shared);
        this.#cursor = grown;
      }
      if (rest < 16) for (let k = 0; k < rest; k++) this.#cursor[shared + k] = bytes[next + k]!;
      else this.#cursor.set(bytes.subarray(next, next + rest), shared);
      next += rest;
    }
    this.#cursorSlot = slot;
    this.#cursorLength = length;
    this.#cursorNext = next;
  }
}

/** FNV-1a of `bytes[start, end)`. */
export function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let k = start; k < end; k++) hash = Math.imul(hash ^ bytes[k]!, 0x01000193);
  return hash >>> 0;
}

/** A length as 7 bits a byte, low bits first; returns where it ends. */
function writeLength(bytes: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    bytes[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  bytes[at++] = value;
  return at;
}

function readLength(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
}

/** A copy of `array` of `length` items (the old memory freed at once: release.ts). */
function resized<T extends Uint8Array | Uint32Array>(array: T, length: number): T {
  if (length === array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(length);
  next.set(array.subarray(0, Math.min(array.length, length)));
  releaseBuffer(array.buffer);
  return next;
}
