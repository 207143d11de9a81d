import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from './parallel-gzip.js';

async function compress(input: Buffer, chunkSize: number, level = 6, spareWork?: () => boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new ParallelGzip({ level, blockSize: 256 * 1024, ...(spareWork && { spareWork }) }), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i}: the quick brown fox ${i % 97}\n`).join(''));
const random = randomBytes(900_000);
const mixed = Buffer.concat([text, random, text.subarray(0, 12_345)]);

describe('ParallelGzip', () => {
  it.each([
    ['text', text],
    ['random bytes', random],
    ['mixed', mixed],
    // Shorter than one block: deflated on this thread, with no worker started for it.
    ['less than a block', text.subarray(0, 100_000)],
    ['empty', Buffer.alloc(0)],
  ])('round-trips %s through Node gunzip and GNU gzip -d, whatever the chunking', async (_name, input) => {
    for (const chunkSize of [1, 511, 64 * 1024, 3_000_000]) {
      if (chunkSize === 1 && input.length > 100_000) continue;
      const gz = await compress(input, chunkSize);
      expect(gunzipSync(gz).equals(input)).toBe(true);
      expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 << 20 }).equals(input)).toBe(true);
    }
  });

  it('stays within 1% of single-stream gzip on text, and stores random data instead of deflating it', async () => {
    const gz = await compress(text, 64 * 1024);
    expect(gz.length).toBeLessThan(gzipSync(text, { level: 6 }).length * 1.01);
    const stored = await compress(random, 64 * 1024);
    expect(stored.length).toBeLessThan(random.length * 1.001);
  });

  it('does its spare work while the workers are busy, before it deflates a block itself, and writes the same bytes', async () => {
    const input = Buffer.concat(Array.from({ length: 12 }, () => text)); // about 48 blocks
    let stretches = 0;
    const spareWork = () => {
      if (stretches === 20) return false;
      stretches++;
      const until = performance.now() + 2;
      while (performance.now() < until); // a stretch of work on this thread
      return true;
    };
    const gz = await compress(input, 1 << 20, 6, spareWork);
    expect(stretches).toBe(20);
    expect(gz.equals(await compress(input, 1 << 20))).toBe(true);
    expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 64 << 20 }).equals(input)).toBe(true);
  });
});
