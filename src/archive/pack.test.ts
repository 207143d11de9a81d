import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManifestEntry } from './manifest.js';
import { packEntries, type PackEntry } from './pack.js';
import { TarStreamWriter } from './tar-stream-writer.js';

let dir: string;

/** An entry as the scan saw it: a regular file of `size` bytes at `name` (whatever is there now). */
function scannedFile(name: string, size: number): PackEntry {
  const st = fs.lstatSync(path.join(dir, name));
  return { path: name, absolute: path.join(dir, name), type: 'file', mode: 0o644, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, size, dev: st.dev, ino: st.ino, ctimeMs: st.ctimeMs };
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pack-'));
  fs.writeFileSync(path.join(dir, 'a'), 'hello');
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  fs.symlinkSync('a', path.join(dir, 'link'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('packEntries, when a scanned file is something else by the time it is read', () => {
  it('archives a FIFO as zeros flagged as changed (without blocking), and refuses to follow a symlink', async () => {
    const out = new TarStreamWriter();
    const archive: Buffer[] = [];
    out.on('data', (chunk: Buffer) => archive.push(Buffer.from(chunk)));
    const ended = new Promise((resolve) => out.on('end', resolve));
    const packed: ManifestEntry[] = [];
    const unreadable: string[] = [];
    const changed: string[] = [];
    await packEntries(out, [scannedFile('a', 5), scannedFile('fifo', 100), scannedFile('link', 5)], {
      onEntry: (entry) => void packed.push(entry),
      onUnreadable: (absolute) => void unreadable.push(absolute),
      onChangedWhileReading: (absolute) => void changed.push(absolute),
    });
    await out.finish();
    await ended;

    expect(packed.map((e) => [e.path, e.sha256, e.changedWhileReading ?? false])).toEqual([
      ['a', sha256('hello'), false],
      ['fifo', sha256(Buffer.alloc(100)), true],
    ]);
    expect(changed).toEqual([path.join(dir, 'fifo')]);
    expect(unreadable).toEqual([path.join(dir, 'link')]);
    const tarFile = path.join(dir, 'out.tar');
    fs.writeFileSync(tarFile, Buffer.concat(archive));
    expect(execFileSync('tar', ['-tvf', tarFile], { encoding: 'utf8' })).toMatch(/^-.* 100 .* fifo$/m);
  }, 10_000);
});
