/**
 * The tar writer's blocks, recycled: the compressor gives each block's memory back once a worker has deflated it,
 * and the writer fills it again. Without this a backup allocates a new 1 MiB block per MiB archived, and V8 answers
 * every 64 MB of new memory outside its heap with a full garbage collection: measured here, a second of the main
 * thread on a 700 MB backup.
 */
/** As many as can be in circulation at once: in flight to the workers, and queued in the streams. */
const KEPT = 8;

export class BlockPool {
  readonly blockSize: number;
  readonly #free: ArrayBuffer[] = [];

  constructor(blockSize: number) {
    this.blockSize = blockSize;
  }

  take(): Buffer {
    const memory = this.#free.pop() ?? new ArrayBuffer(this.blockSize);
    return Buffer.from(memory);
  }

  /** Memory of a block nothing refers to any more. */
  give(memory: ArrayBuffer): void {
    if (memory.byteLength === this.blockSize && this.#free.length < KEPT) this.#free.push(memory);
  }
}
