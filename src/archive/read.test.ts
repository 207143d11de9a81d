import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../metadata/record.js';
import { LocalStorage } from '../storage/local.js';
import { storedChecksum } from './read.js';

let dir: string;
let storage: LocalStorage;
const record = (archive: string) => ({ id: 'b1', archive }) as BackupRecord;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stored-checksum-'));
  fs.writeFileSync(path.join(dir, 'a.tar.gz'), 'archive bytes');
  fs.mkdirSync(path.join(dir, 'folder.tar.gz'));
  storage = new LocalStorage(dir, () => Promise.resolve(dir));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('storedChecksum', () => {
  it('is the SHA-256 of the stored bytes', async () => {
    expect(await storedChecksum(storage, record('a.tar.gz'))).toBe(createHash('sha256').update('archive bytes').digest('hex'));
  });

  it('throws, rather than giving a checksum that cannot match, when the archive cannot be read', async () => {
    // A restore or verify that failed re-reads the archive to tell "it changed" from other failures: a read that
    // fails must not be reported as a changed archive.
    await expect(storedChecksum(storage, record('gone.tar.gz'))).rejects.toThrow(/archive gone\.tar\.gz of backup b1 is missing from/);
    await expect(storedChecksum(storage, record('folder.tar.gz'))).rejects.toThrow(/folder\.tar\.gz is not a regular file/);
  });
});
