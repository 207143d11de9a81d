import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackEntry } from './pack.js';
import { PackList } from './pack-list.js';
import { ReadAhead } from './read-ahead.js';

let dir: string;
const FILES = 3000;

function entry(name: string, type: PackEntry['type'], size = 0): PackEntry {
  return { path: `root/${name}`, absolute: path.join(dir, name), type, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0, size, dev: 0, ino: 0, ctimeMs: 0 };
}

/** Folders and files interleaved, one file missing (it cannot be read ahead, and must not stop the rest). */
function entries(count = FILES): PackEntry[] {
  const list: PackEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 100 === 0) list.push(entry(`d${i}`, 'dir'));
    list.push(entry(i === 5 ? 'missing' : `f${i}`, 'file', 10));
  }
  return list;
}

/** The entries as the scan hands them to the packer. */
function packList(of: PackEntry[]): PackList {
  const list = new PackList([{ absolute: dir, archiveRoot: 'root', exclude: [] }]);
  for (const e of of) list.add({ ...e, nlink: 1 });
  return list;
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const start = Date.now(); !condition(); ) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-ahead-'));
  for (let i = 0; i < FILES; i++) if (i !== 5) fs.writeFileSync(path.join(dir, `f${i}`), '0123456789');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ReadAhead', () => {
  it('passes every entry through unchanged and in order, list after list', async () => {
    const readAhead = new ReadAhead();
    try {
      expect([...readAhead.through(packList(entries()))]).toEqual(entries());
      expect([...readAhead.through(packList(entries(10)))]).toEqual(entries(10));
      // More folders in a row than it ever looks ahead.
      const folders = [...Array.from({ length: 10_000 }, (_, i) => entry(`e${i}`, 'dir')), ...entries(10)];
      expect([...readAhead.through(packList(folders))]).toEqual(folders);
    } finally {
      await readAhead.close();
    }
  });

  it('reads the files the packer will take next, a bounded number ahead of it, skipping what cannot be opened', async () => {
    const readAhead = new ReadAhead({ sampleCached: false });
    try {
      const packer = readAhead.through(packList(entries()));
      expect(packer.next().value).toEqual(entry('d0', 'dir'));
      // The first 2048 files were announced; one of them is missing.
      await until(() => readAhead.filesRead === 2047);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(readAhead.filesRead).toBe(2047);
      // Once the packer has taken 256 files, the next 256 are announced.
      for (let taken = 0; taken <= 256; ) if ((packer.next().value as PackEntry).type === 'file') taken++;
      await until(() => readAhead.filesRead === 2047 + 256);
    } finally {
      await readAhead.close();
    }
  });

  it('reads only a sample of the files once they come from the page cache many in a row', async () => {
    const readAhead = new ReadAhead();
    try {
      for (let i = 0; i < FILES; i++) if (i !== 5) fs.readFileSync(path.join(dir, `f${i}`)); // in the page cache
      const packer = readAhead.through(packList(entries()));
      packer.next();
      // Of the 2047 announced files it can read: the first 16, then about one in 16.
      await until(() => readAhead.filesRead >= 16);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(readAhead.filesRead).toBeLessThan(400);
      expect([...packer].length).toBe(entries().length - 1);
    } finally {
      await readAhead.close();
    }
  });
});
