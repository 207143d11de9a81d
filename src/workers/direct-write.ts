/**
 * Writing a restored file's content around the page cache (O_DIRECT), for large files. On the 2-core VM the bench
 * runs on, a buffered write of the bench's 30 files of 1 MiB or more (503 MB) cost 0.2-1.5 s of kernel time (fresh
 * page-cache pages to be had, filled and written back), and the `sync -f` at the end of the restore 0.2 s more; the
 * same bytes written with O_DIRECT took 0.2-0.5 s in all, with a tenth of the CPU or less. Those seconds of kernel
 * time were taken from the two cores that decompress and write everything else. A restored file is not read back soon, and the
 * page cache the platform's services use is not flushed out by hundreds of megabytes of it.
 *
 * Small files stay buffered: each direct write waits for the disk, which made 6,560 files of 4-64 KiB take 3.5 s
 * against 1-1.9 s.
 *
 * O_DIRECT needs the memory, the length and the file offset of every write aligned to the device's logical block.
 * The content goes through one page-aligned buffer (a WebAssembly memory: V8 maps it whole, so it starts on a page),
 * written out whenever it is full; the last block is padded with zeros and the file cut back to its size. Where the
 * filesystem refuses O_DIRECT (EINVAL from open or from the first write), the file is written buffered, and so are
 * the worker's next files. Durability is unchanged: the restore still flushes the filesystem before swapping.
 *
 * Only Node built-ins are imported: the file runs as its own module beside the CLI bundle.
 */
import fs from 'node:fs';
import { CREATE_FLAGS } from './write-files-protocol.js';

/** Files of at least this many bytes are written direct. */
export const DIRECT_MIN_BYTES = 1 << 20;
/** A multiple of every logical block size in use (512 or 4096 bytes). */
const ALIGNMENT = 4096;
const WASM_PAGE = 64 << 10;
/** Bytes per write(2): large enough that waiting for the disk is a small part of each. */
const BUFFER_BYTES = 1 << 20;

/** The one part of the WebAssembly API used here (the project's `lib` has no WebAssembly types). */
declare const WebAssembly: { Memory: new (pages: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };

let buffer: Uint8Array | undefined;
/** Set once O_DIRECT or its memory was refused: the worker writes buffered from then on. */
let unsupported = false;

/** The aligned buffer, made on first use; undefined once O_DIRECT was refused. */
function alignedBuffer(): Uint8Array | undefined {
  if (unsupported) return undefined;
  try {
    buffer ??= new Uint8Array(new WebAssembly.Memory({ initial: BUFFER_BYTES / WASM_PAGE, maximum: BUFFER_BYTES / WASM_PAGE }).buffer);
  } catch {
    unsupported = true;
  }
  return buffer;
}

const isEinval = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'EINVAL';

function writeAll(fd: number, bytes: Uint8Array, length: number): void {
  for (let at = 0; at < length; ) at += fs.writeSync(fd, bytes, at, length - at);
}

/** The content of one file being created: written direct while that works, buffered otherwise. */
export class FileContent {
  fd: number;
  readonly #dest: string;
  /** The aligned buffer while writing direct, and how much of it is filled. */
  #direct: Uint8Array | undefined;
  #filled = 0;
  #written = 0;
  /** Nothing was written direct yet: an EINVAL now means the filesystem refuses O_DIRECT. */
  #first = true;

  /** Creates `dest` (it must not exist) with `mode`, for `size` bytes of content (direct from DIRECT_MIN_BYTES). */
  constructor(dest: string, mode: number, size: number) {
    this.#dest = dest;
    const direct = size >= DIRECT_MIN_BYTES ? alignedBuffer() : undefined;
    if (direct) {
      try {
        this.fd = fs.openSync(dest, CREATE_FLAGS | fs.constants.O_DIRECT, mode);
        this.#direct = direct;
        return;
      } catch (error) {
        if (!isEinval(error)) throw error;
        unsupported = true;
      }
    }
    this.fd = fs.openSync(dest, CREATE_FLAGS, mode);
  }

  /** Bytes of content given so far. */
  get written(): number {
    return this.#written;
  }

  write(chunk: Uint8Array): void {
    this.#written += chunk.length;
    if (!this.#direct) return writeAll(this.fd, chunk, chunk.length);
    const direct = this.#direct;
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(chunk.length - at, direct.length - this.#filled);
      direct.set(chunk.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === direct.length && !this.#writeDirect(direct.length)) return writeAll(this.fd, chunk.subarray(at), chunk.length - at);
    }
  }

  /** Writes what is still buffered: the file then holds exactly the content given. */
  end(): void {
    if (!this.#direct || this.#filled === 0) return;
    const filled = this.#filled;
    const padded = Math.ceil(filled / ALIGNMENT) * ALIGNMENT;
    this.#direct.fill(0, filled, padded);
    if (this.#writeDirect(padded) && padded !== filled) fs.ftruncateSync(this.fd, this.#written);
  }

  /** Writes the first `length` bytes of the aligned buffer; false when they were written buffered instead. */
  #writeDirect(length: number): boolean {
    const direct = this.#direct!;
    try {
      writeAll(this.fd, direct, length);
    } catch (error) {
      if (!this.#first || !isEinval(error)) throw error;
      // The filesystem took O_DIRECT at open but not the write: the file is still empty, so it is opened again
      // (O_NOFOLLOW: never through a symlink) and written buffered from its start.
      unsupported = true;
      fs.closeSync(this.fd);
      this.fd = -1; // Should the open below fail, no one closes a descriptor that may be another file's by then.
      this.fd = fs.openSync(this.#dest, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      this.#direct = undefined;
      writeAll(this.fd, direct, this.#filled);
      this.#filled = 0;
      return false;
    }
    this.#first = false;
    this.#filled = 0;
    return true;
  }
}
