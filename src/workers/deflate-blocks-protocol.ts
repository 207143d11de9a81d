/** Messages between the parallel gzip (archive/parallel-gzip.ts) and its workers (deflate-blocks.ts). */

export interface DeflateJob {
  id: number;
  /** The block's bytes: `length` bytes from the start of this (transferred) buffer. */
  data: ArrayBuffer;
  length: number;
  /** The last 32 KiB before the block, or null for the first one. */
  dictionary: Uint8Array | null;
  level: number;
}

/** The compressed block (`length` bytes at `offset` in `data`), and the input's memory given back for reuse. */
export type DeflateResult = { id: number; data: ArrayBuffer; offset: number; length: number; input: ArrayBuffer } | { id: number; error: string };
