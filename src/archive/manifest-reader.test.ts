import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../errors.js';
import { FORMAT_VERSION, MANIFEST_FORMAT, parseManifest, serializeManifest, type Manifest } from './manifest.js';
import { readManifestStream } from './manifest-reader.js';
import { ManifestWriter } from './manifest-writer.js';

const manifest: Manifest = {
  format: MANIFEST_FORMAT,
  formatVersion: FORMAT_VERSION,
  toolVersion: 'test',
  id: 'b1',
  type: 'incremental',
  createdAt: '2026-01-01T00:00:00.000Z',
  parent: 'b0',
  platform: { name: 'p', root: '/p' },
  services: ['svc'],
  parts: { config: true, volumes: true, logs: false, platformConfig: false },
  roots: [{ service: 'svc', part: 'config', source: 'c', archiveRoot: 'svc/config/c' }],
  entries: ['a', 'b,c', 'ünï\ncode', 'd]}'].map((name, i) => ({
    path: `svc/config/c/${name}`,
    type: 'file' as const,
    mode: 0o644,
    uid: 1,
    gid: 1,
    mtimeMs: 1.5 + i,
    size: i,
    sha256: String(i).repeat(64),
    dev: 1,
    ino: i,
    ctimeMs: 2.5,
  })),
  deleted: ['svc/config/c/gone'],
};

/** The manifest as ManifestWriter writes it. */
async function written(m: Manifest): Promise<Buffer> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-manifest-reader-')), 'manifest.json');
  const { entries, ...header } = m;
  const writer = await ManifestWriter.open(file, header);
  for (const entry of entries) writer.add(entry);
  await writer.close();
  return fs.readFileSync(file);
}

/** The manifest written with its header given at close, as an incremental writes it. */
async function writtenHeaderLast(m: Manifest, entryCopies = 1): Promise<{ data: Buffer; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-manifest-reader-'));
  const { entries, ...header } = m;
  const writer = await ManifestWriter.open(path.join(dir, 'manifest.json'));
  for (let i = 0; i < entryCopies; i++) for (const entry of entries) writer.add({ ...entry, path: `${entry.path}${i}` });
  await writer.close(header);
  return { data: fs.readFileSync(path.join(dir, 'manifest.json')), dir };
}

/** `data` streamed in chunks of `size` bytes, so lines and characters straddle chunks. */
function chunked(data: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return Readable.from(chunks);
}

async function failure(data: Buffer, maxBytes = 1 << 20): Promise<unknown> {
  try {
    await readManifestStream(chunked(data, 5), 'test', maxBytes);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('readManifestStream', () => {
  it('reads the writer\'s layout line by line as parseManifest reads the whole, whatever the chunks', async () => {
    const data = await written(manifest);
    for (const size of [1, 3, 64, 1 << 16]) {
      expect(await readManifestStream(chunked(data, size), 'test', 1 << 20)).toEqual(parseManifest(data, 'test'));
    }
    expect(parseManifest(data, 'test')).toEqual(manifest);
  });

  it('reads a manifest written whole, on one line, and one without entries', async () => {
    const whole = serializeManifest(manifest);
    expect(await readManifestStream(chunked(whole, 7), 'test', 1 << 20)).toEqual(manifest);
    const empty = await written({ ...manifest, entries: [] });
    expect(await readManifestStream(chunked(empty, 7), 'test', 1 << 20)).toEqual({ ...manifest, entries: [] });
  });

  it('writes the same document when the header comes at close, through more than its buffer, and leaves no other file', async () => {
    const copies = 4000; // about 1.2 MB of entries: more than the writer's 1 MiB buffer
    const many = { ...manifest, entries: Array.from({ length: copies }, (_, i) => manifest.entries.map((e) => ({ ...e, path: `${e.path}${i}` }))).flat() };
    const headerLast = await writtenHeaderLast(manifest, copies);
    expect(headerLast.data.length).toBeGreaterThan(1 << 20);
    expect(headerLast.data.equals(await written(many))).toBe(true);
    expect(fs.readdirSync(headerLast.dir)).toEqual(['manifest.json']);
    expect((fs.statSync(path.join(headerLast.dir, 'manifest.json')).mode & 0o777).toString(8)).toBe('600');
    expect((await writtenHeaderLast({ ...manifest, entries: [] })).data.equals(await written({ ...manifest, entries: [] }))).toBe(true);
  });

  it('refuses a cut, damaged or oversized document with the errors parseManifest gives', async () => {
    const data = await written(manifest);
    const text = data.toString();
    const cut = await failure(data.subarray(0, data.length - 4));
    expect(isBackupError(cut, 'INTEGRITY')).toBe(true);
    const damaged = await failure(Buffer.from(text.replace('"ino":1,', '"ino":1,,')));
    expect(isBackupError(damaged, 'INTEGRITY')).toBe(true);
    const extra = await failure(Buffer.from(`${text}{"more":1}\n`));
    expect(isBackupError(extra, 'INTEGRITY')).toBe(true);
    const shapeless = await failure(Buffer.from(text.replace(/"path":"svc\/config\/c\/a",/, '"path":7,')));
    expect(isBackupError(shapeless, 'INTEGRITY')).toBe(true);
    const newer = await failure(Buffer.from(text.replace(`"formatVersion":${FORMAT_VERSION}`, '"formatVersion":99')));
    expect(isBackupError(newer, 'INDEX_TOO_NEW')).toBe(true);
    const big = await failure(data, 100);
    expect(isBackupError(big, 'UNSAFE_ARCHIVE')).toBe(true);
    expect(isBackupError(await failure(Buffer.alloc(0)), 'INTEGRITY')).toBe(true);
  });
});
