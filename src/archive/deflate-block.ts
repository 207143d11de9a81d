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

/** The compressed block, in memory of its own (it can be moved to another thread). */
export function deflateBlock(block: Uint8Array, dictionary: Uint8Array | undefined, level: number): Buffer {
  const compressed = zlib.deflateRawSync(block, {
    level: effectiveLevel(block, level),
    // One output buffer larger than any compressed block: no concatenation of 16 KiB pieces.
    chunkSize: block.length + (block.length >> 6) + 1024,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    ...(dictionary && { dictionary }),
  });
  // zlib's output is a view of a buffer as large as the input, allocated for this call: kept when nearly full,
  // copied to its size otherwise, so that blocks waiting to be written hold no empty memory.
  return compressed.length < compressed.buffer.byteLength * 0.75 ? Buffer.from(new Uint8Array(compressed).buffer) : compressed;
}
