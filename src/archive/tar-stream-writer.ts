/**
 * A tar stream laid out directly in fixed-size blocks (1 MiB, the parallel compressor's unit): headers are copied
 * in, and file content is read from its descriptor straight into the block being filled, hashed where it lies. No
 * buffer per file, no copy of file bytes, one push per block: on tens of thousands of small files, per-file
 * buffers and stream chunks were what the CPU spent its time on, not the reading.
 */
import type { Hash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { BlockPool } from './block-pool.js';
import { BLOCK, encodeHeader, type TarEntryHeader } from './tar-header.js';

export const TAR_BLOCK_SIZE = 1 << 20;

/** A read, where nothing to read now (a file that has become a FIFO, opened non-blocking) counts as its end. */
function readOrNothing(fd: number, into: Buffer, offset: number, length: number): number {
  try {
    return fs.readSync(fd, into, offset, length, null);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    throw error;
  }
}

export class TarStreamWriter extends Readable {
  readonly #blockSize: number;
  readonly #pool: BlockPool | undefined;
  #block: Buffer;
  #used = 0;
  /** Set while a full block waits for the consumer to ask for more. */
  #waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;

  /** With a pool, blocks come from it (and whoever consumes them gives them back). */
  constructor(options: { blockSize?: number; pool?: BlockPool } = {}) {
    const blockSize = options.pool?.blockSize ?? options.blockSize ?? TAR_BLOCK_SIZE;
    super({ highWaterMark: 2 * blockSize });
    this.#blockSize = blockSize;
    this.#pool = options.pool;
    this.#block = this.#newBlock();
  }

  #newBlock(): Buffer {
    return this.#pool ? this.#pool.take() : Buffer.allocUnsafeSlow(this.#blockSize);
  }

  override _read(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error ?? new Error('the archive stream was closed'));
    callback(error);
  }

  /** An entry without content (folder, symlink, hard link), or the header of a file written by the caller. */
  async header(header: TarEntryHeader): Promise<void> {
    await this.#copy(encodeHeader(header));
  }

  /**
   * A file entry whose `header.size` bytes are read from `fd` into the archive and fed to `hash`. A file that turns
   * out shorter is padded with zeros (as GNU tar does); one that grew is cut at the header's size. Returns how many
   * bytes were read from the file.
   */
  async file(header: TarEntryHeader, fd: number, hash: Hash): Promise<number> {
    await this.header(header);
    let read = 0;
    let ended = false;
    for (let remaining = header.size; remaining > 0; ) {
      if (this.#used === this.#blockSize) await this.#emit();
      const want = Math.min(remaining, this.#blockSize - this.#used);
      let got = 0;
      while (!ended && got < want) {
        const n = readOrNothing(fd, this.#block, this.#used + got, want - got);
        if (n === 0) ended = true;
        got += n;
      }
      if (got < want) this.#block.fill(0, this.#used + got, this.#used + want);
      hash.update(this.#block.subarray(this.#used, this.#used + want));
      this.#used += want;
      read += got;
      remaining -= want;
    }
    await this.#pad(header.size);
    return read;
  }

  /** Ends the archive (two zero blocks) and the stream. */
  async finish(): Promise<void> {
    await this.#zeros(2 * BLOCK);
    if (this.#used > 0) await this.#emit();
    this.push(null);
  }

  async #pad(size: number): Promise<void> {
    const over = size % BLOCK;
    if (over > 0) await this.#zeros(BLOCK - over);
  }

  async #zeros(count: number): Promise<void> {
    for (let left = count; left > 0; ) {
      if (this.#used === this.#blockSize) await this.#emit();
      const n = Math.min(left, this.#blockSize - this.#used);
      this.#block.fill(0, this.#used, this.#used + n);
      this.#used += n;
      left -= n;
    }
  }

  async #copy(bytes: Buffer): Promise<void> {
    for (let offset = 0; offset < bytes.length; ) {
      if (this.#used === this.#blockSize) await this.#emit();
      const n = bytes.copy(this.#block, this.#used, offset);
      this.#used += n;
      offset += n;
    }
  }

  async #emit(): Promise<void> {
    if (this.destroyed) throw new Error('the archive stream was closed');
    const block = this.#used === this.#blockSize ? this.#block : this.#block.subarray(0, this.#used);
    this.#block = this.#newBlock();
    this.#used = 0;
    if (this.push(block)) return;
    await new Promise<void>((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }
}
