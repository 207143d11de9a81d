/**
 * Seeded pseudo-random numbers for the benchmark's data generator: the same seed gives the same platform, byte for
 * byte (on the same machine: the git repositories are built from text found on it).
 *
 * mulberry32 for the small decisions (names, sizes, picks), AES-256-CTR over zeros for bulk incompressible bytes
 * (gigabytes per second, and deterministic from a key derived from the seed).
 */
import { createCipheriv, createHash } from 'node:crypto';

/** A 32-bit hash of a string (FNV-1a), to derive independent streams from one seed and a label. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  #state: number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** An independent stream for one part of the generator, so that changing one part does not shift the others. */
  fork(label: string): Rng {
    return new Rng(hash32(`${this.seed}:${label}`));
  }

  /** Uniform in [0, 1). */
  next(): number {
    // mulberry32
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** A pick weighted towards the start of the list (Zipf-like), e.g. for popular folders. */
  pickSkewed<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    const u = this.next();
    return items[Math.min(items.length - 1, Math.floor(items.length * u * u))] as T;
  }

  /** Lowercase hex of n digits. */
  hex(n: number): string {
    let out = '';
    while (out.length < n) out += (this.int(0x10000) | 0x10000).toString(16).slice(1);
    return out.slice(0, n);
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

/**
 * Incompressible, deterministic bytes: AES-256-CTR keystream (key and IV from the seed and a label). Yields chunks
 * of at most `chunkSize` bytes until `total` bytes were produced.
 */
export function* randomBytesStream(seed: number, label: string, total: number, chunkSize = 4 << 20): Generator<Buffer> {
  const digest = createHash('sha256').update(`mcp-bench:${seed}:${label}`).digest();
  const iv = createHash('sha256').update(`iv:${seed}:${label}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', digest, iv);
  const zeros = Buffer.alloc(Math.min(chunkSize, Math.max(total, 1)));
  let left = total;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    yield cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    left -= n;
  }
}

/** A whole small buffer of deterministic random bytes. */
export function randomBuffer(seed: number, label: string, size: number): Buffer {
  return Buffer.concat([...randomBytesStream(seed, label, size)]);
}
