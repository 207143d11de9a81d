import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanRoots, TreeWalk, type ScanRoot, type ScannedEntry } from './scan.js';

function tree(): ScanRoot {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-scan-'));
  fs.mkdirSync(path.join(root, 'b/c'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a.txt'), 'a');
  fs.writeFileSync(path.join(root, 'b/c/d.txt'), 'dd');
  fs.linkSync(path.join(root, 'a.txt'), path.join(root, 'b/linked.txt'));
  fs.symlinkSync('a.txt', path.join(root, 'z-link'));
  fs.writeFileSync(path.join(root, 'é ü.txt'), 'unicode');
  return { absolute: root, archiveRoot: 'svc/volumes/data', exclude: [] };
}

describe('scanRoots', () => {
  it('gives archive order, hard links and symlinks, and leaves the current folder as it was', () => {
    const root = tree();
    const before = process.cwd();
    const { entries, problems } = scanRoots([root], { skip: new Set() });
    expect(process.cwd()).toBe(before);
    expect(problems).toEqual([]);
    const p = (rel: string) => `svc/volumes/data${rel}`;
    expect(entries.map((e) => [e.path, e.type, e.link])).toEqual([
      [p(''), 'dir', undefined],
      [p('/a.txt'), 'file', undefined],
      [p('/b'), 'dir', undefined],
      [p('/z-link'), 'symlink', 'a.txt'],
      [p('/é ü.txt'), 'file', undefined],
      [p('/b/c'), 'dir', undefined],
      [p('/b/linked.txt'), 'hardlink', p('/a.txt')],
      [p('/b/c/d.txt'), 'file', undefined],
    ]);
    expect(entries.find((e) => e.path === p('/b/c/d.txt'))).toMatchObject({ absolute: path.join(root.absolute, 'b/c/d.txt'), size: 2 });
  });

  it('returns only what `keep` accepts, each entry asked once it is marked as a hard link', () => {
    const root = tree();
    const all = scanRoots([root], { skip: new Set() }).entries;
    const asked: string[] = [];
    const kept = scanRoots([root], {
      skip: new Set(),
      keep: (entry) => {
        asked.push(`${entry.path} ${entry.type}`);
        return entry.type !== 'file';
      },
    }).entries;
    expect(asked).toEqual(all.map((e) => `${e.path} ${e.type}`));
    expect(kept).toEqual(all.filter((e) => e.type !== 'file'));
  });

  it('skips the paths it is told to, and reports an unreadable folder by its whole path', () => {
    const root = tree();
    const { entries } = scanRoots([root], { skip: new Set([path.join(root.absolute, 'b')]) });
    expect(entries.some((e) => e.path.includes('/b'))).toBe(false);
    if (process.getuid?.() === 0) return; // root reads any folder
    fs.chmodSync(path.join(root.absolute, 'b/c'), 0o000);
    const { problems } = scanRoots([root], { skip: new Set() });
    expect(problems).toEqual([expect.objectContaining({ kind: 'unreadable', absolute: path.join(root.absolute, 'b/c') })]);
  });

  it('walked a stretch at a time, finds the same entries and problems in the same order, and is in its own folder between stretches', () => {
    const root = tree();
    for (let i = 0; i < 30; i++) fs.mkdirSync(path.join(root.absolute, `m/n${i}`), { recursive: true });
    fs.writeFileSync(path.join(root.absolute, 'm/n3/bad-\ufffd.txt'), 'x'); // a name the walk reports, not backs up
    const second: ScanRoot = { ...tree(), archiveRoot: 'svc/config/c' };
    const whole = scanRoots([root, second], { skip: new Set() });
    expect(whole.problems).toHaveLength(1);
    for (const stretch of [1, 3, 7]) {
      const found: ScannedEntry[] = [];
      const walk = new TreeWalk([root, second], new Set(), (entry) => found.push(entry));
      const before = process.cwd();
      let stretches = 0;
      while (!walk.finished) {
        walk.walk(stretch);
        stretches++;
        expect(process.cwd()).toBe(before);
      }
      expect(stretches).toBeGreaterThan(2);
      expect(found).toEqual(whole.entries);
      expect(walk.problems).toEqual(whole.problems);
    }
  });
});
