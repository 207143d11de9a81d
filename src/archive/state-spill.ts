/**
 * The compact state (compact-state.ts) of a backup that starts a chain, written to disk column by column while its
 * entries are packed, for the host's state cache. Held in memory until the backup's end, it grew with the number of
 * entries (about 300 bytes each with the path strings and the columns' doubling: 23 MiB more at the peak of a backup
 * of 142k entries than of 71k). Here each column is filled for a chunk of entries and appended to its own spill file;
 * the state file is then those files one after another, behind a header that gives the counts.
 *
 * The entries come from one scan, in archive order, with unique paths: the state is the entries as they come.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DIR_MODE, FILE_MODE } from '../fsutil/safe-write.js';
import { encodedForm, newColumns, nulJoinedBytes, nulJoinedPieces, putEntry, type StateIdentity } from './compact-state.js';
import type { ManifestEntry } from './manifest.js';

/** Entries per chunk: at about 80 bytes an entry, 640 KiB of columns. */
export const CHUNK_ENTRIES = 8192;
/** The numeric columns, in file order; the entries of the links follow them, from memory (few), then the rest. */
const NUMERIC = ['mtime', 'ctime', 'size', 'ino', 'mode', 'uid', 'gid'] as const;
/** Spilled columns, in file order. */
const SPILLED = [...NUMERIC, 'type', 'sha256', 'paths'] as const;
type Spilled = (typeof SPILLED)[number];
const READ_PIECE = 256 * 1024;

export class StateSpill {
  readonly #dir: string;
  readonly #files: Record<Spilled, number>;
  readonly #chunk = newColumns(CHUNK_ENTRIES);
  #inChunk = 0;
  #entries = 0;
  #pathBytes = 0;
  readonly #linkEntries: number[] = [];
  readonly #linkTargets: string[] = [];
  /** Why the spill stopped (a full disk): the state is then not cached, and the backup goes on. */
  #failure: Error | undefined;

  /** A spill in `dir`, a folder that must not exist yet (made private). */
  constructor(dir: string) {
    fs.mkdirSync(dir, { mode: DIR_MODE });
    this.#dir = dir;
    this.#files = Object.fromEntries(SPILLED.map((name) => [name, fs.openSync(path.join(dir, name), 'wx+', FILE_MODE)])) as Record<Spilled, number>;
  }

  add(entry: ManifestEntry): void {
    if (this.#failure) return;
    putEntry(this.#chunk, this.#inChunk++, entry);
    if (entry.link !== undefined) {
      this.#linkEntries.push(this.#entries);
      this.#linkTargets.push(entry.link);
    }
    this.#entries++;
    if (this.#inChunk === CHUNK_ENTRIES) this.#spill();
  }

  #spill(): void {
    const c = this.#chunk;
    const n = this.#inChunk;
    try {
      for (const name of [...NUMERIC, 'type'] as const) {
        const column = c[name];
        writeAll(this.#files[name], new Uint8Array(column.buffer, column.byteOffset, n * column.BYTES_PER_ELEMENT));
      }
      writeAll(this.#files.sha256, c.sha256.subarray(0, 32 * n));
      // NUL-separated across chunks: each chunk after the first starts with the NUL that ends the one before.
      const paths = c.paths.slice(0, n);
      const first = this.#entries === n;
      if (!first) writeAll(this.#files.paths, Buffer.from([0]));
      for (const piece of nulJoinedPieces(paths)) writeAll(this.#files.paths, piece);
      this.#pathBytes += nulJoinedBytes(paths) + (first ? 0 : 1);
    } catch (error) {
      this.#failure = error as Error;
    }
    // A SHA-256 is written only for entries that have one: the next chunk's others must read as zeros, as in memory.
    c.sha256.fill(0);
    c.paths.length = 0;
    c.links.clear();
    this.#inChunk = 0;
  }

  /** The state file, piece by piece (each valid until the next is asked for); throws if the spill failed. */
  *encodedPieces(identity: StateIdentity): Generator<Uint8Array> {
    if (this.#inChunk > 0) this.#spill();
    if (this.#failure) throw this.#failure;
    const counts = { entries: this.#entries, links: this.#linkEntries.length, pathBytes: this.#pathBytes, linkBytes: nulJoinedBytes(this.#linkTargets) };
    const file = (name: Spilled) => readPieces(this.#files[name]);
    const linkEntries = new Uint8Array(Uint32Array.from(this.#linkEntries).buffer);
    yield* encodedForm(identity, counts, [
      ...NUMERIC.map(file),
      [linkEntries],
      file('type'),
      file('sha256'),
      file('paths'),
      nulJoinedPieces(this.#linkTargets),
    ]);
  }

  /** Closes and removes the spill files. */
  dispose(): void {
    for (const fd of Object.values(this.#files)) fs.closeSync(fd);
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done);
}

/** A spill file from its start, in pieces of one reused buffer. */
function* readPieces(fd: number): Generator<Uint8Array> {
  const piece = Buffer.allocUnsafe(READ_PIECE);
  for (let position = 0; ; ) {
    const read = fs.readSync(fd, piece, 0, READ_PIECE, position);
    if (read === 0) return;
    position += read;
    yield piece.subarray(0, read);
  }
}
