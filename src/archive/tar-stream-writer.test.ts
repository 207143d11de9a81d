import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { TarEntryHeader } from './tar-header.js';
import { TarStreamWriter } from './tar-stream-writer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-tar-writer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MTIME = Date.UTC(2024, 2, 1, 12, 0, 0);

/** Names around every boundary the encoder switches on: ustar name/prefix limits, pax record length digits, UTF-8. */
const names = [
  'plain.txt',
  'a'.repeat(100),
  `${'p'.repeat(150)}/${'n'.repeat(100)}`,
  `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}/${'g'.repeat(60)}/${'h'.repeat(60)}`,
  `${'x'.repeat(200)}/${'y'.repeat(200)}`,
  'café.md',
  `${'é'.repeat(40)}.txt`,
  `${'é'.repeat(44)}`, // A pax record whose length gains a digit once it counts itself.
  '日本語/ファイル.json',
];

async function writeArchive(file: string, contents: Map<string, Buffer>, extra: TarEntryHeader[]): Promise<void> {
  const out = new TarStreamWriter({ blockSize: 4096 }); // Small blocks, so entries straddle block ends.
  const written = pipeline(out, fs.createWriteStream(file));
  for (const [name, content] of contents) {
    const source = path.join(dir, 'source');
    fs.writeFileSync(source, content);
    const fd = fs.openSync(source, 'r');
    const read = await out.file({ name, type: 'file', mode: 0o640, uid: 1000, gid: 1000, size: content.length, mtimeMs: MTIME }, fd, createHash('sha256'));
    fs.closeSync(fd);
    expect(read).toBe(content.length);
  }
  for (const header of extra) await out.header(header);
  await out.finish();
  await written;
}

describe('TarStreamWriter', () => {
  const contents = new Map(names.map((name, i) => [name, Buffer.alloc(i * 700 + (i % 2), String.fromCharCode(97 + i))]));
  const extra: TarEntryHeader[] = [
    { name: 'folder', type: 'directory', mode: 0o750, uid: 0, gid: 0, size: 0, mtimeMs: MTIME },
    { name: 'link-to-plain', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtimeMs: MTIME, linkname: 'plain.txt' },
    { name: 'long-link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtimeMs: MTIME, linkname: `${'t/'.repeat(80)}target` },
    { name: 'hard', type: 'link', mode: 0o640, uid: 0, gid: 0, size: 0, mtimeMs: MTIME, linkname: 'plain.txt' },
    { name: 'big-ids', type: 'directory', mode: 0o700, uid: 3_000_000, gid: 4_000_000, size: 0, mtimeMs: MTIME },
    { name: 'old', type: 'directory', mode: 0o700, uid: 0, gid: 0, size: 0, mtimeMs: -86_400_000 },
  ];
  const file = path.join(dir, 'test.tar');

  it('writes an archive GNU tar extracts byte for byte', async () => {
    await writeArchive(file, contents, extra);
    const target = fs.mkdtempSync(path.join(dir, 'x-'));
    execFileSync('tar', ['-xf', file, '-C', target, '--numeric-owner', '--warning=no-timestamp']);
    for (const [name, content] of contents) expect(fs.readFileSync(path.join(target, name)).equals(content), name).toBe(true);
    expect(fs.readlinkSync(path.join(target, 'link-to-plain'))).toBe('plain.txt');
    expect(fs.readlinkSync(path.join(target, 'long-link'))).toBe(`${'t/'.repeat(80)}target`);
    expect(fs.statSync(path.join(target, 'hard')).ino).toBe(fs.statSync(path.join(target, 'plain.txt')).ino);
    expect(fs.statSync(path.join(target, 'plain.txt')).mode & 0o7777).toBe(0o640);
    expect(fs.statSync(path.join(target, 'plain.txt')).mtimeMs).toBe(MTIME);
    expect(fs.statSync(path.join(target, 'old')).mtimeMs).toBe(-86_400_000);
    const ids = execFileSync('tar', ['-tvf', file, '--numeric-owner', 'big-ids'], { encoding: 'utf8' });
    expect(ids).toContain('3000000/4000000');
  });

  it('writes an archive tar-stream reads with the same names, types and contents', async () => {
    const seen = new Map<string, { type: string; content: Buffer; linkname: string | null }>();
    const extract = tarStream.extract();
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        seen.set(header.name, { type: header.type ?? '', content: Buffer.concat(chunks), linkname: header.linkname ?? null });
        next();
      });
    });
    await pipeline(fs.createReadStream(file), extract);
    expect([...seen.keys()].sort()).toEqual([...contents.keys(), ...extra.map((e) => e.name)].sort());
    for (const [name, content] of contents) expect(seen.get(name)!.content.equals(content), name).toBe(true);
    expect(seen.get('folder')!.type).toBe('directory');
    expect(seen.get('long-link')!.linkname).toBe(`${'t/'.repeat(80)}target`);
    expect(seen.get('hard')).toMatchObject({ type: 'link', linkname: 'plain.txt' });
  });

  it('pads a file that shrank while read to its header size, and reports the bytes read', async () => {
    const source = path.join(dir, 'shrunk');
    fs.writeFileSync(source, 'short');
    const out = new TarStreamWriter({ blockSize: 4096 });
    const archive = path.join(dir, 'shrunk.tar');
    const written = pipeline(out, fs.createWriteStream(archive));
    const fd = fs.openSync(source, 'r');
    const read = await out.file({ name: 'shrunk', type: 'file', mode: 0o600, uid: 0, gid: 0, size: 5000, mtimeMs: MTIME }, fd, createHash('sha256'));
    fs.closeSync(fd);
    await out.finish();
    await written;
    expect(read).toBe(5);
    const listed = execFileSync('tar', ['-xOf', archive, 'shrunk']);
    expect(listed.length).toBe(5000);
    expect(listed.subarray(0, 5).toString()).toBe('short');
    expect(listed.subarray(5).every((b) => b === 0)).toBe(true);
  });
});
