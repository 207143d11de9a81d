import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { endsItsBuffer, releaseBuffer, ReleasingGunzip } from './release.js';

/** 6 MiB that inflate at very different rates: text, zeros, random bytes. */
function mixedData(): Buffer {
  const text = Buffer.from('{"path":"services/filesystem/volumes/notes/2024/report.md","size":1234}\n'.repeat(30_000));
  return Buffer.concat([text, Buffer.alloc(2 << 20), randomBytes(2 << 20)]);
}

/** Each piece in a buffer of its own, as a file's read stream gives them. */
function ownBuffers(data: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push(Buffer.from(data.subarray(at, at + size)));
  return pieces;
}

describe('releaseBuffer', () => {
  it('frees a large buffer at once (its views then have no bytes) and leaves small ones alone', () => {
    const large = Buffer.alloc(1 << 20, 1);
    releaseBuffer(large.buffer);
    expect(large.length).toBe(0);
    const small = Buffer.from('a pooled buffer');
    releaseBuffer(small.buffer);
    expect(small.toString()).toBe('a pooled buffer');
  });
});

describe('ReleasingGunzip', () => {
  it('inflates what gunzip inflates, and frees every input chunk that is a whole buffer once it is inflated', async () => {
    const data = mixedData();
    const input = ownBuffers(zlib.gzipSync(data), 256 * 1024);
    const large = input.filter((chunk) => chunk.length >= 64 * 1024);
    // A slice of a larger buffer may share it with bytes someone else still reads: never freed.
    const shared = Buffer.concat([zlib.gzipSync(data), Buffer.alloc(1)]);
    const sharedInput = [shared.subarray(0, shared.length - 1)];
    for (const chunks of [input, sharedInput]) {
      const out: Buffer[] = [];
      await pipeline(Readable.from(chunks), new ReleasingGunzip({ chunkSize: 1 << 20 }), async (inflated: AsyncIterable<Buffer>) => {
        for await (const chunk of inflated) out.push(Buffer.from(chunk));
      });
      expect(Buffer.concat(out).equals(data)).toBe(true);
    }
    expect(large.length).toBeGreaterThanOrEqual(8);
    expect(large.every((chunk) => chunk.length === 0)).toBe(true);
    expect(sharedInput[0]!.length).toBe(shared.length - 1);
  });

  it('never writes again into an output buffer once a chunk ended it: freeing those loses no byte', async () => {
    const data = mixedData();
    const out: Buffer[] = [];
    let freed = 0;
    const consumer = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(Buffer.from(chunk));
        if (endsItsBuffer(chunk)) {
          releaseBuffer(chunk.buffer);
          freed++;
        }
        // Later, as the tar reader's await does: zlib has gone on meanwhile.
        setImmediate(callback);
      },
    });
    await pipeline(Readable.from(ownBuffers(zlib.gzipSync(data), 64 * 1024)), new ReleasingGunzip({ chunkSize: 1 << 20 }), consumer);
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(freed).toBeGreaterThanOrEqual(5);
  });
});
