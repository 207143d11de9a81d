/**
 * One block of the parallel gzip (see parallel-gzip.ts), deflated: raw deflate primed with the previous block's last
 * 32 KiB and ended by a sync flush, so that blocks concatenate into one deflate stream. Run by the compressing
 * workers, and by the main thread when the workers are behind.
 *
 * Blocks that do not compress are stored: four 16 KiB samples spread over the block are deflated at level 1 first,
 * and only if none of them shrinks by 2% is the block deflated at level 0. Deflating random data at level 6 costs as
 * much CPU as text and gains nothing (the same trick as borg's "auto"); several samples keep a block that mixes
 * random bytes and text compressed.
 */
import zlib from 'node:zlib';

const SAMPLE = 16 * 1024;
const SAMPLES = 4;
const WORTH_COMPRESSING = 0.98;

function effectiveLevel(block: Uint8Array, level: number): number {
  if (block.length < SAMPLE * SAMPLES * 2) return level;
  const step = Math.floor((block.length - SAMPLE) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) {
    const sample = block.subarray(i * step, i * step + SAMPLE);
    if (zlib.deflateRawSync(sample, { level: 1 }).length <= sample.length * WORTH_COMPRESSING) return level;
  }
  return 0;
}

/**
 * zlib's largest hash table (its default is 8, as gzip's): 64Ki chains instead of 32Ki, so each match search walks
 * shorter ones. On the bench data, 1 MiB blocks at level 6 deflated about 10% faster for 0.06% more output; the
 * level, and so what the compressor tries, is the same.
 */
export const MEM_LEVEL = 9;

/** Output is gathered in pieces of this size, then joined at its size. */
const OUTPUT_PIECE = 64 * 1024;

/** The compressed block, in memory of its own (it can be moved to another thread). */
export function deflateBlock(block: Uint8Array, dictionary: Uint8Array | undefined, level: number): Buffer {
  // Small output pieces rather than one buffer as large as the block: that buffer was dead as soon as the result was
  // copied out of it, 1 MiB per block that stayed in memory until the next garbage collection of a worker whose heap
  // hardly ever fills (about 20 MB of the backup's peak).
  const compressed = zlib.deflateRawSync(block, {
    level: effectiveLevel(block, level),
    memLevel: MEM_LEVEL,
    chunkSize: OUTPUT_PIECE,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    ...(dictionary && { dictionary }),
  });
  // A result of one piece is a view of it (or of the shared pool): copied to its size, so that blocks waiting to be
  // written hold no empty memory and moving the block to another thread moves nothing else.
  return compressed.length < compressed.buffer.byteLength ? Buffer.from(new Uint8Array(compressed).buffer) : compressed;
}
