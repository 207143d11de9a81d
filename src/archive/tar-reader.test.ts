import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { TarReader, type TarHeader } from './tar-reader.js';

/** One line per entry: what a consumer sees of it. */
function describeEntry(header: Pick<TarHeader, 'name' | 'type' | 'size' | 'linkname'>, content: Buffer): string {
  return `${header.name}|${String(header.type)}|${header.size}|${String(header.linkname)}|${createHash('sha256').update(content).digest('hex')}`;
}

async function withTarStream(archive: Buffer): Promise<string[]> {
  const seen: string[] = [];
  const extract = tarStream.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => void chunks.push(chunk as Buffer));
    stream.on('end', () => {
      seen.push(describeEntry({ ...header, type: header.type ?? null, size: header.size ?? 0, linkname: header.linkname ?? null }, Buffer.concat(chunks)));
      next();
    });
  });
  await pipeline(Readable.from([archive]), extract);
  return seen;
}

async function withReader(archive: Buffer, chunkSize: number): Promise<string[]> {
  const seen: string[] = [];
  const reader = new TarReader((header) => {
    const chunks: Buffer[] = [];
    return {
      data: (chunk) => void chunks.push(Buffer.from(chunk)),
      // A slow consumer: the reader must wait for it.
      end: () => new Promise<void>((resolve) => setImmediate(() => resolve(void seen.push(describeEntry(header, Buffer.concat(chunks)))))),
    };
  });
  for (let at = 0; at < archive.length; at += chunkSize) {
    const chunk = Buffer.from(archive.subarray(at, at + chunkSize));
    await reader.write(chunk);
    // A chunk is lent: its memory may be freed once read (release.ts). Overwritten, it must change nothing.
    chunk.fill(0xff);
  }
  reader.end();
  return seen;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tar-reader-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A tree with what takes the less common header paths: long and unicode names, long link targets, hard links. */
function makeTree(): string {
  const root = path.join(dir, 'tree');
  const deep = path.join(root, 'x'.repeat(120), 'naïve-version/');
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'z'.repeat(99)), 'hello');
  fs.writeFileSync(path.join(root, 'ünïcödé 数据.txt'), 'u'.repeat(1000));
  fs.writeFileSync(path.join(root, 'big'), randomBytes(700_000));
  fs.writeFileSync(path.join(root, 'empty'), '');
  fs.symlinkSync(`../${'q'.repeat(150)}`, path.join(root, 'long-link'));
  fs.linkSync(path.join(root, 'big'), path.join(root, 'hard'));
  return root;
}

describe('TarReader', () => {
  const tree = makeTree();
  it.each(['gnu', 'pax'])('reads what tar-stream reads from a GNU tar archive in %s format, whatever the chunking', async (format) => {
    const archive = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', path.dirname(tree), path.basename(tree)], {
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const expected = await withTarStream(archive);
    expect(expected.length).toBeGreaterThan(5);
    for (const chunkSize of [1, 511, 512, 4096, 1 << 20]) expect(await withReader(archive, chunkSize)).toEqual(expected);
  });

  it('reads what tar-stream reads from a tar-stream archive with pax headers', async () => {
    const pack = tarStream.pack();
    pack.entry({ name: `${'d'.repeat(150)}/f.txt`, size: 3 }, 'abc');
    pack.entry({ name: 'ünï/file', size: 0 }, '');
    pack.entry({ name: 'dir', type: 'directory' }, '');
    pack.entry({ name: 'sym', type: 'symlink', linkname: 'l'.repeat(200) }, '');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
    const archive = Buffer.concat(chunks);
    expect(await withReader(archive, 100)).toEqual(await withTarStream(archive));
  });

  it('refuses what tar-stream refuses, with its messages', async () => {
    const archive = execFileSync('tar', ['-cf', '-', '-C', path.dirname(tree), path.basename(tree)], { maxBuffer: 64 << 20 });
    const corrupt = Buffer.from(archive);
    corrupt[10] = corrupt[10]! ^ 0xff;
    await expect(withReader(corrupt, 4096)).rejects.toThrow('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
    await expect(withReader(archive.subarray(0, 1536), 4096)).rejects.toThrow('Unexpected end of data');
    await expect(withReader(randomBytes(2048), 4096)).rejects.toThrow(/Invalid tar header/);
  });
});
