/**
 * A backup's state reduced to what change detection reads: for each path, its type, size, times, inode, mode, owner,
 * link target and SHA-256. It is held column by column (one typed array per field, the paths in one array), and its
 * binary form is a copy of those columns, so loading the state of 71k files is one file read, where the manifest it
 * comes from is 20 MB of JSON to parse into 71k objects. A state read back keeps its paths as the file's bytes until
 * they are needed as strings (see `pathEquals`).
 *
 * A compact state is folded from a chain's manifests exactly as `foldChain` (state.ts) folds them: a changed path
 * keeps its place, a new one goes to the end, deleted paths go. `storedIn` and `dev` are left out: change detection
 * ignores them, and restore folds the manifests themselves.
 *
 * Binary form (little-endian; every column starts at a multiple of 8):
 *   "MCPSTATE" | u32 version | u32 header bytes | header JSON (id, manifestSha256, counts), padded
 *   | f64 mtimeMs, ctimeMs, size, ino [n] | u32 mode, uid, gid [n] | u32 entry of each link [links]
 *   | u8 type [n] | SHA-256 [32 n] | paths, NUL-separated | link targets, NUL-separated | SHA-256 of all before.
 * NUL is the one byte no path or link target can hold.
 */
import { createHash } from 'node:crypto';
import { BackupError } from '../errors.js';
import { ENTRY_TYPES, type EntryType, type Manifest, type ManifestEntry } from './manifest.js';
import { checkContinues } from './state.js';
import { releaseBuffer } from './release.js';
import { fnv1a } from './path-table.js';

/** What change detection compares of an entry (a `StateEntry` is one too). */
export interface EntryFacts {
  type: EntryType;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  link?: string;
}

const MAGIC = Buffer.from('MCPSTATE');
const VERSION = 1;
/** Set in an entry's type byte when the entry has a SHA-256. */
const HAS_SHA256 = 0x80;
const SHA256_BYTES = 32;

/** What a state file says it is the state of: the backup, and the checksum of that backup's manifest copy. */
export interface StateIdentity {
  id: string;
  manifestSha256: string;
}

interface Header extends StateIdentity {
  entries: number;
  links: number;
  pathBytes: number;
  linkBytes: number;
}

const align8 = (n: number): number => (n + 7) & ~7;

/** Byte offsets of each column in the binary form, from the header's counts. */
function layout(headerEnd: number, h: Header) {
  const n = h.entries;
  const mtime = align8(headerEnd);
  const ctime = mtime + 8 * n;
  const size = ctime + 8 * n;
  const ino = size + 8 * n;
  const mode = ino + 8 * n;
  const uid = mode + 4 * n;
  const gid = uid + 4 * n;
  const linkEntry = gid + 4 * n;
  const type = linkEntry + 4 * h.links;
  const sha256 = type + n;
  const paths = sha256 + SHA256_BYTES * n;
  const links = paths + h.pathBytes;
  const end = links + h.linkBytes;
  return { mtime, ctime, size, ino, mode, uid, gid, linkEntry, type, sha256, paths, links, end };
}

/** The columns of a state; `paths` has one string per entry, `sha256` 32 bytes per entry. */
export interface Columns {
  paths: string[];
  type: Uint8Array;
  mode: Uint32Array;
  uid: Uint32Array;
  gid: Uint32Array;
  mtime: Float64Array;
  ctime: Float64Array;
  size: Float64Array;
  ino: Float64Array;
  sha256: Buffer;
  /** Link targets by entry (symlinks and hard links only: few). */
  links: Map<number, string>;
}

export function newColumns(capacity: number): Columns {
  return {
    paths: [],
    type: new Uint8Array(capacity),
    mode: new Uint32Array(capacity),
    uid: new Uint32Array(capacity),
    gid: new Uint32Array(capacity),
    mtime: new Float64Array(capacity),
    ctime: new Float64Array(capacity),
    size: new Float64Array(capacity),
    ino: new Float64Array(capacity),
    sha256: Buffer.alloc(SHA256_BYTES * capacity),
    links: new Map(),
  };
}

export function putEntry(c: Columns, j: number, entry: ManifestEntry): void {
  const type = ENTRY_TYPES.indexOf(entry.type);
  if (type < 0) throw new BackupError('INTEGRITY', `entry ${entry.path} has an unknown type ${String(entry.type)}`, { path: entry.path });
  c.paths[j] = entry.path;
  c.type[j] = type;
  c.mode[j] = entry.mode;
  c.uid[j] = entry.uid;
  c.gid[j] = entry.gid;
  c.mtime[j] = entry.mtimeMs;
  c.ctime[j] = entry.ctimeMs;
  c.size[j] = entry.size;
  c.ino[j] = entry.ino;
  // A hex write stops at the first character that is not hex: 32 bytes written is a valid SHA-256 (the check a
  // regular expression made cost a tenth of building a state).
  const sha256 = entry.sha256;
  if (typeof sha256 === 'string' && sha256.length === 2 * SHA256_BYTES && c.sha256.write(sha256, SHA256_BYTES * j, 'hex') === SHA256_BYTES) {
    c.type[j] = type | HAS_SHA256;
  }
  if (entry.link !== undefined) c.links.set(j, entry.link);
  else c.links.delete(j);
}

/** The first `capacity` entries of the columns (all of them, when they have fewer), moved to columns of that size. */
function resized(c: Columns, capacity: number): Columns {
  const out = newColumns(capacity);
  const n = Math.min(capacity, c.type.length);
  out.paths = c.paths;
  out.links = c.links;
  out.type.set(c.type.subarray(0, n));
  out.mode.set(c.mode.subarray(0, n));
  out.uid.set(c.uid.subarray(0, n));
  out.gid.set(c.gid.subarray(0, n));
  out.mtime.set(c.mtime.subarray(0, n));
  out.ctime.set(c.ctime.subarray(0, n));
  out.size.set(c.size.subarray(0, n));
  out.ino.set(c.ino.subarray(0, n));
  out.sha256.set(c.sha256.subarray(0, SHA256_BYTES * n));
  // Freed at once (release.ts): left to the collector, the old columns made the peak at the very end of a backup of
  // 153k entries.
  for (const column of [c.type, c.mode, c.uid, c.gid, c.mtime, c.ctime, c.size, c.ino, c.sha256]) releaseBuffer(column.buffer);
  return out;
}

function copyEntry(from: Columns, i: number, to: Columns, j: number): void {
  to.paths[j] = from.paths[i]!;
  to.type[j] = from.type[i]!;
  to.mode[j] = from.mode[i]!;
  to.uid[j] = from.uid[i]!;
  to.gid[j] = from.gid[i]!;
  to.mtime[j] = from.mtime[i]!;
  to.ctime[j] = from.ctime[i]!;
  to.size[j] = from.size[i]!;
  to.ino[j] = from.ino[i]!;
  from.sha256.copy(to.sha256, SHA256_BYTES * j, SHA256_BYTES * i, SHA256_BYTES * (i + 1));
  const link = from.links.get(i);
  if (link !== undefined) to.links.set(j, link);
}

/** Paths as a state file holds them: NUL-separated UTF-8, and where each starts (one more, past the end). */
interface EncodedPaths {
  bytes: Buffer;
  starts: Uint32Array;
}

/** Where `pathEquals` encodes the path it is given; grown as paths need. */
let scratch = Buffer.alloc(4096);

export class CompactState {
  readonly length: number;
  readonly #c: Columns;
  /**
   * A state read from its file keeps its paths encoded until something needs them as strings: a diff in step with
   * the scan compares bytes, and 77k path strings (10 MB, each copied twice by the young generation's collector)
   * are never made.
   */
  #encoded: EncodedPaths | undefined;
  /** Path -> entry, made on the first `indexOf`. */
  #index: ((path: string) => number) | undefined;

  /** Columns filled up to `length` (they may have room for more); `paths` is empty when `encoded` holds them. */
  private constructor(columns: Columns, length: number, encoded?: EncodedPaths) {
    this.length = length;
    this.#encoded = encoded;
    this.#c = {
      ...columns,
      type: columns.type.subarray(0, length),
      mode: columns.mode.subarray(0, length),
      uid: columns.uid.subarray(0, length),
      gid: columns.gid.subarray(0, length),
      mtime: columns.mtime.subarray(0, length),
      ctime: columns.ctime.subarray(0, length),
      size: columns.size.subarray(0, length),
      ino: columns.ino.subarray(0, length),
      sha256: columns.sha256.subarray(0, SHA256_BYTES * length),
    };
  }

  /** Paths, in state order (archive order, with paths added by later incrementals at the end). */
  get paths(): readonly string[] {
    const encoded = this.#encoded;
    if (encoded) {
      for (let i = 0; i < this.length; i++) this.#c.paths[i] = decodePath(encoded, i);
      this.#encoded = undefined;
    }
    return this.#c.paths;
  }

  /** The path of entry `i`. */
  path(i: number): string {
    return this.#encoded ? decodePath(this.#encoded, i) : this.#c.paths[i]!;
  }

  /** Whether entry `i` exists and has this path (compared as bytes while the paths are encoded). */
  pathEquals(i: number, path: string): boolean {
    const encoded = this.#encoded;
    if (!encoded) return this.#c.paths[i] === path;
    if (i >= this.length) return false;
    // A UTF-16 code unit is at most 3 bytes of UTF-8, so the write is never cut short.
    if (scratch.length < 3 * path.length) scratch = Buffer.alloc(6 * path.length);
    const written = scratch.write(path);
    const start = encoded.starts[i]!;
    const end = encoded.starts[i + 1]! - 1;
    return end - start === written && scratch.compare(encoded.bytes, start, end, 0, written) === 0;
  }

  /**
   * The entry with this path, or -1 (a state's paths are unique). While the paths are encoded, the table is built over
   * their bytes: a Map of 71k path strings made for it cost a no-change incremental 0.15 s, most of it the strings.
   */
  indexOf(path: string): number {
    this.#index ??= this.#encoded ? encodedIndex(this.#encoded, this.length) : stringIndex(this.#c.paths, this.length);
    return this.#index(path);
  }

  /** A state holding exactly these entries, in this order. */
  static of(entries: Iterable<ManifestEntry>): CompactState {
    const list = [...entries];
    const c = newColumns(list.length);
    list.forEach((entry, j) => putEntry(c, j, entry));
    return new CompactState(c, list.length);
  }

  /**
   * Builds the state of a chain's first backup as its manifest streams in, entry by entry, so the manifest is never
   * held whole: `add` each entry, then `finish` with the manifest (its header: `entries` are not read). A path given
   * twice keeps its first place and its last entry, as in foldChain's Map. (A backup being written spills its state
   * to disk instead: state-spill.ts.)
   */
  static builder(): { add(entry: ManifestEntry): void; finish(manifest: Manifest): CompactState } {
    let c = newColumns(1024);
    let capacity = 1024;
    let length = 0;
    const positions = new Map<string, number>();
    return {
      add(entry) {
        const seen = positions.get(entry.path);
        if (seen !== undefined) return putEntry(c, seen, entry);
        if (length === capacity) c = resized(c, (capacity *= 2));
        positions.set(entry.path, length);
        putEntry(c, length++, entry);
      },
      finish(manifest) {
        checkContinues(manifest, undefined);
        // Columns of their exact size: the room left by doubling is up to half of them.
        return new CompactState(resized(c, length), length);
      },
    };
  }

  /**
   * The state after `manifest`, from the state before it: `previous` is the state of backup `previousId`, both
   * undefined for the first backup of a chain. `foldChain`'s rules, on columns.
   */
  static fold(previous: CompactState | undefined, previousId: string | undefined, manifest: Manifest): CompactState {
    checkContinues(manifest, previousId);
    // Path -> its last entry in this manifest, in first-seen order: a Map, as foldChain's state is.
    const incoming = new Map<string, ManifestEntry>();
    for (const entry of manifest.entries) incoming.set(entry.path, entry);
    const deleted = new Set(manifest.deleted);
    // (The paths as strings: a fold makes a new state, to be written out.)
    const beforePaths = previous?.paths;
    const before = previous && previous.#c;
    const c = newColumns((previous?.length ?? 0) + incoming.size);
    let j = 0;
    for (let i = 0; before && i < previous.length; i++) {
      const path = beforePaths![i]!;
      if (deleted.size > 0 && deleted.has(path)) continue;
      const replacement = incoming.get(path);
      if (replacement === undefined) {
        copyEntry(before, i, c, j++);
      } else {
        putEntry(c, j++, replacement);
        incoming.delete(path);
      }
    }
    for (const entry of incoming.values()) putEntry(c, j++, entry);
    return new CompactState(c, j);
  }

  facts(i: number): EntryFacts {
    const c = this.#c;
    const facts: EntryFacts = {
      type: ENTRY_TYPES[c.type[i]! & ~HAS_SHA256]!,
      size: c.size[i]!,
      mtimeMs: c.mtime[i]!,
      ctimeMs: c.ctime[i]!,
      ino: c.ino[i]!,
      mode: c.mode[i]!,
      uid: c.uid[i]!,
      gid: c.gid[i]!,
    };
    const link = c.links.get(i);
    if (link !== undefined) facts.link = link;
    return facts;
  }

  sha256(i: number): string | undefined {
    if ((this.#c.type[i]! & HAS_SHA256) === 0) return undefined;
    return this.#c.sha256.toString('hex', SHA256_BYTES * i, SHA256_BYTES * (i + 1));
  }

  /** The binary form, bound to the backup it is the state of, in one buffer. */
  encode(identity: StateIdentity): Buffer {
    return Buffer.concat(Array.from(this.encodedPieces(identity), (piece) => Buffer.from(piece)));
  }

  /**
   * The binary form piece by piece, each valid until the next is asked for: the columns as they lie in memory, the
   * paths through a small buffer, the checksum last. Written as they come, they make the file without its being held
   * whole: as one buffer it was a backup's peak memory, made at its very end (26 MB for 153k entries).
   */
  *encodedPieces(identity: StateIdentity): Generator<Uint8Array> {
    const c = this.#c;
    // A state read back still has its paths as the file's bytes: they are written as they are.
    const encoded = this.#encoded?.bytes;
    const linkEntries = [...c.links.keys()];
    const targets = linkEntries.map((i) => c.links.get(i)!);
    const counts = { entries: this.length, links: linkEntries.length, pathBytes: encoded ? encoded.length : nulJoinedBytes(c.paths), linkBytes: nulJoinedBytes(targets) };
    const columns = [c.mtime, c.ctime, c.size, c.ino, c.mode, c.uid, c.gid, Uint32Array.from(linkEntries), c.type, c.sha256].map((column) => [
      new Uint8Array(column.buffer, column.byteOffset, column.byteLength),
    ]);
    yield* encodedForm(identity, counts, [...columns, encoded ? [encoded] : nulJoinedPieces(c.paths), nulJoinedPieces(targets)]);
  }

  /** Reads a binary form; a damaged one is an INTEGRITY error. */
  static decode(data: Buffer, where: string): { identity: StateIdentity; state: CompactState } {
    const damaged = (why: string) => new BackupError('INTEGRITY', `${where} is damaged (${why})`, { where });
    if (data.length < 16 + SHA256_BYTES || !data.subarray(0, 8).equals(MAGIC)) throw damaged('not a state file');
    if (data.readUInt32LE(8) !== VERSION) throw damaged(`version ${data.readUInt32LE(8)}`);
    const end = data.length - SHA256_BYTES;
    if (!createHash('sha256').update(data.subarray(0, end)).digest().equals(data.subarray(end))) throw damaged('checksum');
    const headerEnd = 16 + data.readUInt32LE(12);
    let header: Header;
    try {
      header = JSON.parse(data.toString('utf8', 16, headerEnd)) as Header;
    } catch {
      throw damaged('header');
    }
    const counts = [header.entries, header.links, header.pathBytes, header.linkBytes];
    if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0) || typeof header.id !== 'string' || typeof header.manifestSha256 !== 'string') {
      throw damaged('header');
    }
    const at = layout(headerEnd, header);
    if (at.end !== end) throw damaged('size');
    const n = header.entries;
    // The columns and paths are read where they lie in the file's bytes, which are almost all columns and paths:
    // copying them out cost 12 MB of fresh memory for 77k entries, and touching fresh memory is what costs here
    // (about 5 ms a megabyte on the benchmark's machine). A typed array must start on a multiple of its element's
    // size, which each column does when the file's bytes start on a multiple of 8; bytes that do not are copied.
    const bytes = data.byteOffset % 8 === 0 ? data : Buffer.from(data);
    const pathBytes = bytes.subarray(at.paths, at.links);
    const pathStarts = nulStarts(pathBytes, n);
    const linkBlock = bytes.subarray(at.links, end);
    const linkStarts = nulStarts(linkBlock, header.links);
    if (!pathStarts || !linkStarts) throw damaged('counts');
    const targets = Array.from({ length: header.links }, (_, k) => decodePath({ bytes: linkBlock, starts: linkStarts }, k));
    const { buffer } = bytes;
    const from = (offset: number) => bytes.byteOffset + offset;
    const linkEntry = new Uint32Array(buffer, from(at.linkEntry), header.links);
    if (linkEntry.some((i) => i >= n)) throw damaged('counts');
    const type = new Uint8Array(buffer, from(at.type), n);
    if (type.some((t) => (t & ~HAS_SHA256) >= ENTRY_TYPES.length)) throw damaged('entry type');
    const links = new Map<number, string>();
    targets.forEach((target, k) => links.set(linkEntry[k]!, target));
    const columns: Columns = {
      paths: [],
      type,
      mode: new Uint32Array(buffer, from(at.mode), n),
      uid: new Uint32Array(buffer, from(at.uid), n),
      gid: new Uint32Array(buffer, from(at.gid), n),
      mtime: new Float64Array(buffer, from(at.mtime), n),
      ctime: new Float64Array(buffer, from(at.ctime), n),
      size: new Float64Array(buffer, from(at.size), n),
      ino: new Float64Array(buffer, from(at.ino), n),
      sha256: Buffer.from(buffer, from(at.sha256), SHA256_BYTES * n),
      links,
    };
    const state = new CompactState(columns, n, { bytes: pathBytes, starts: pathStarts });
    return { identity: { id: header.id, manifestSha256: header.manifestSha256 }, state };
  }
}

/** The counts a state file's header gives, besides its identity. */
export type StateCounts = Omit<Header, keyof StateIdentity>;

/**
 * The binary form from its parts, piece by piece: the header from the counts, then the columns in file order (mtime,
 * ctime, size, ino, mode, uid, gid, the entries of the links, type, SHA-256, paths, link targets), each given as the
 * pieces that make it, then the checksum. Each piece is handed on as it comes.
 */
export function* encodedForm(identity: StateIdentity, counts: StateCounts, columns: Iterable<Iterable<Uint8Array>>): Generator<Uint8Array> {
  const header: Header = { ...identity, ...counts };
  const headerText = Buffer.from(JSON.stringify(header));
  const at = layout(16 + headerText.length, header);
  const hash = createHash('sha256');
  // Up to the first column: magic, version, the header's length, the header, zeros to a multiple of 8.
  const head = Buffer.alloc(at.mtime);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(VERSION, 8);
  head.writeUInt32LE(headerText.length, 12);
  headerText.copy(head, 16);
  hash.update(head);
  yield head;
  for (const column of columns) {
    for (const piece of column) {
      hash.update(piece);
      yield piece;
    }
  }
  yield hash.digest();
}

/** Bytes of `strings` as NUL-separated UTF-8. */
export function nulJoinedBytes(strings: readonly string[]): number {
  let bytes = Math.max(0, strings.length - 1);
  for (const s of strings) bytes += Buffer.byteLength(s);
  return bytes;
}

/** Bytes of a piece of NUL-separated strings, before it is handed on. */
const JOINED_PIECE = 64 * 1024;

/**
 * `strings` as NUL-separated UTF-8, in pieces of one reused buffer (each valid until the next is asked for): joined
 * first, 77k paths made a 14 MB string.
 */
export function* nulJoinedPieces(strings: readonly string[]): Generator<Uint8Array> {
  const piece = Buffer.allocUnsafe(JOINED_PIECE);
  let used = 0;
  for (let k = 0; k < strings.length; k++) {
    const s = strings[k]!;
    const bytes = (k > 0 ? 1 : 0) + Buffer.byteLength(s);
    if (used + bytes > JOINED_PIECE && used > 0) {
      yield piece.subarray(0, used);
      used = 0;
    }
    if (bytes > JOINED_PIECE) {
      yield Buffer.from(k > 0 ? `\0${s}` : s);
      continue;
    }
    if (k > 0) piece[used++] = 0;
    used += piece.write(s, used);
  }
  if (used > 0) yield piece.subarray(0, used);
}

/**
 * Where each of the `count` strings of a block of NUL-separated UTF-8 starts, and one more past its end; undefined
 * when the block does not hold exactly that many.
 */
function nulStarts(block: Buffer, count: number): Uint32Array | undefined {
  if (count === 0) return block.length === 0 ? new Uint32Array(1) : undefined;
  const starts = new Uint32Array(count + 1);
  let start = 0;
  for (let k = 0; k < count; k++) {
    const nul = block.indexOf(0, start);
    const last = k === count - 1;
    if (last ? nul >= 0 : nul < 0) return undefined;
    starts[k] = start;
    start = (last ? block.length : nul) + 1;
  }
  starts[count] = start;
  return starts;
}

/**
 * String `k` of encoded paths. Each is decoded alone: an ASCII path stays a one-byte string, where one decode of the
 * whole block makes every path two bytes a character as soon as one of them is not ASCII (7 MB more for 77k paths).
 */
function stringIndex(paths: readonly string[], length: number): (path: string) => number {
  const positions = new Map<string, number>();
  for (let i = 0; i < length; i++) positions.set(paths[i]!, i);
  return (path) => positions.get(path) ?? -1;
}

/** An open-addressing hash table of entry numbers, keyed by the FNV-1a hash of each path's UTF-8 bytes. */
function encodedIndex({ bytes, starts }: EncodedPaths, length: number): (path: string) => number {
  const size = 2 ** Math.ceil(Math.log2(2 * length + 2));
  const mask = size - 1;
  /** Entry number + 1 (0: free), and the hash of the path there. */
  const slots = new Int32Array(size);
  const hashes = new Uint32Array(size);
  for (let i = 0; i < length; i++) {
    const hash = fnv1a(bytes, starts[i]!, starts[i + 1]! - 1);
    let at = hash & mask;
    while (slots[at] !== 0) at = (at + 1) & mask;
    slots[at] = i + 1;
    hashes[at] = hash;
  }
  return (path) => {
    if (scratch.length < 3 * path.length) scratch = Buffer.alloc(6 * path.length);
    const written = scratch.write(path);
    const hash = fnv1a(scratch, 0, written);
    for (let at = hash & mask; slots[at] !== 0; at = (at + 1) & mask) {
      if (hashes[at] !== hash) continue;
      const i = slots[at]! - 1;
      const start = starts[i]!;
      const end = starts[i + 1]! - 1;
      if (end - start === written && scratch.compare(bytes, start, end, 0, written) === 0) return i;
    }
    return -1;
  };
}

function decodePath(encoded: EncodedPaths, k: number): string {
  return encoded.bytes.toString('utf8', encoded.starts[k], encoded.starts[k + 1]! - 1);
}
