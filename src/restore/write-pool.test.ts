import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DIRECT_MIN_BYTES } from '../workers/direct-write.js';
import { WritePool, type FileJob } from './write-pool.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'write-pool-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function jobFor(name: string, content: Buffer, sha256 = createHash('sha256').update(content).digest('hex')): FileJob {
  return { dest: path.join(dir, name), path: `svc/${name}`, size: content.length, sha256, mode: 0o640, atime: 1_700_000_000, mtime: 1_600_000_000.5 };
}

/** Queues `content` in pieces of `piece` bytes, as the archive reader hands it over. */
async function queue(pool: WritePool, job: FileJob, content: Buffer, piece = 100_000): Promise<void> {
  pool.begin(job);
  for (let at = 0; at < content.length; at += piece) await pool.data(content.subarray(at, at + piece));
  await pool.end();
}

describe('WritePool', () => {
  it('writes small, empty and batch-spanning files with their mode and times', async () => {
    const pool = new WritePool({ toError: (failure) => new Error(`${failure.stage}: ${failure.path}`) });
    const files = new Map<string, Buffer>([
      ['empty', Buffer.alloc(0)],
      ['big', randomBytes(5_000_000)],
      ...Array.from({ length: 300 }, (_, i) => [`small-${i}`, randomBytes(i * 7)] as [string, Buffer]),
    ]);
    try {
      for (const [name, content] of files) await queue(pool, jobFor(name, content), content);
      await pool.flush();
    } finally {
      await pool.close();
    }
    for (const [name, content] of files) {
      const file = path.join(dir, name);
      expect(fs.readFileSync(file).equals(content), name).toBe(true);
      const stat = fs.statSync(file);
      expect(stat.mode & 0o7777).toBe(0o640);
      expect(stat.mtimeMs).toBeCloseTo(1_600_000_000_500, 0);
    }
  });

  it('writes large files (O_DIRECT, through an aligned buffer) byte for byte, whatever their size and pieces', async () => {
    const pool = new WritePool({ toError: (failure) => new Error(`${failure.stage}: ${failure.path}`) });
    // Around the threshold, on and off a block boundary, larger than the aligned buffer, in odd pieces.
    const sizes = [DIRECT_MIN_BYTES - 1, DIRECT_MIN_BYTES, DIRECT_MIN_BYTES + 1, 2 * DIRECT_MIN_BYTES, 3 * DIRECT_MIN_BYTES + 4095, 4 * DIRECT_MIN_BYTES + 513];
    const files = sizes.map((size, i) => ({ name: `large-${i}`, content: randomBytes(size), piece: [4093, 1 << 20, 65_536, (1 << 20) + 7][i % 4]! }));
    try {
      for (const { name, content, piece } of files) await queue(pool, jobFor(name, content), content, piece);
      await pool.flush();
    } finally {
      await pool.close();
    }
    for (const { name, content } of files) {
      const file = path.join(dir, name);
      const stat = fs.statSync(file);
      expect(stat.size, name).toBe(content.length);
      expect(fs.readFileSync(file).equals(content), name).toBe(true);
      expect(stat.mode & 0o7777).toBe(0o640);
      expect(stat.mtimeMs).toBeCloseTo(1_600_000_000_500, 0);
    }
  });

  it('reports a content that does not match its SHA-256, and an existing destination, as the first failure', async () => {
    for (const [name, job] of [
      ['content', jobFor('mismatch', Buffer.from('abc'), '0'.repeat(64))],
      ['content', jobFor('large-mismatch', Buffer.alloc(DIRECT_MIN_BYTES + 1), '0'.repeat(64))],
      ['creating', jobFor('empty', Buffer.from('abc'))],
    ] as const) {
      const pool = new WritePool({ toError: (failure) => new Error(`${failure.stage}: ${failure.path}`) });
      try {
        await queue(pool, job, job.size > 3 ? Buffer.alloc(job.size) : Buffer.from('abc'));
        await expect(pool.flush()).rejects.toThrow(`${name}: ${job.path}`);
      } finally {
        await pool.close();
      }
    }
  });
});
