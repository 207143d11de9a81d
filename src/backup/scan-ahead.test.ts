import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PackEntry } from '../archive/pack.js';
import { scanRoots, type ScanProblem, type ScanRoot } from '../walk/scan.js';
import { ScanAhead } from './scan-ahead.js';

/** A folder of `folders` x `files` small files, as one scan root. */
function tree(name: string, folders: number, files: number): ScanRoot {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `mcp-scan-ahead-${name}-`));
  for (let d = 0; d < folders; d++) {
    fs.mkdirSync(path.join(root, `d${d}`));
    for (let f = 0; f < files; f++) fs.writeFileSync(path.join(root, `d${d}`, `f${f}`), `${d}/${f}`);
  }
  return { absolute: root, archiveRoot: `${name}/volumes/data`, exclude: [] };
}

const withoutNlink = ({ nlink: _, ...entry }: { nlink: number } & PackEntry): PackEntry => entry;

function refuseAll(problems: readonly ScanProblem[]): Error | undefined {
  return problems.length > 0 ? new Error(`${problems.length} problems: ${problems.map((p) => path.basename(p.absolute)).join(', ')}`) : undefined;
}

describe('ScanAhead', () => {
  it('fills each group\'s list with exactly what a whole scan finds, however packing and spare work interleave', () => {
    const groups = [[tree('a', 12, 300)], [tree('b', 1, 5)], [tree('c', 9, 400)]];
    const expected = groups.map((roots) => scanRoots(roots, { skip: new Set() }).entries.map(withoutNlink));
    for (const spareEvery of [0, 1, 7]) {
      const scan = new ScanAhead({ skip: new Set() });
      const lists = groups.map((roots) => scan.group(roots));
      scan.walkOn();
      const got = lists.map((list) => {
        const entries: PackEntry[] = [];
        for (const entry of list) {
          entries.push(entry);
          scan.packed(entry.size);
          if (spareEvery > 0 && entries.length % spareEvery === 0) scan.spare();
        }
        return entries;
      });
      scan.finish();
      expect(scan.finished).toBe(true);
      expect(got).toEqual(expected);
      expect(scan.files).toBe(expected.flat().filter((e) => e.type === 'file').length);
    }
  });

  it('keeps only what `keep` accepts', () => {
    const roots = [tree('k', 5, 500)];
    const scan = new ScanAhead({ skip: new Set(), keep: (entry) => entry.path.endsWith('7') });
    const list = scan.group(roots);
    expect([...list].map((e) => e.path)).toEqual(scanRoots(roots, { skip: new Set() }).entries.filter((e) => e.path.endsWith('7')).map((e) => e.path));
  });

  it('refuses, once the whole tree is walked, with every problem: from the packer\'s pull, and from spare work at the packer\'s next call', () => {
    const make = () => {
      const roots = [tree('p', 10, 400)];
      // Beyond the first stretch of the walk.
      for (const d of ['d7', 'd9']) fs.writeFileSync(path.join(roots[0]!.absolute, d, 'bad-\ufffd'), 'x');
      return roots;
    };
    const pulled = new ScanAhead({ skip: new Set(), refuse: refuseAll });
    const pulledList = pulled.group(make());
    expect(() => [...pulledList]).toThrow('2 problems: bad-\ufffd, bad-\ufffd');

    const spared = new ScanAhead({ skip: new Set(), refuse: refuseAll });
    spared.group(make());
    spared.walkOn();
    while (spared.spare());
    expect(spared.finished).toBe(true);
    expect(() => spared.packed(1)).toThrow('2 problems');
    expect(() => spared.finish()).toThrow('2 problems');
  });

  it('goes on ahead of the packer by a bounded number of entries, whatever the size of the tree', () => {
    const roots = [tree('big', 30, 1000)];
    const scan = new ScanAhead({ skip: new Set() });
    const list = scan.group(roots);
    scan.walkOn();
    // Spare work (as the compressors give it) stops once the walk is that far ahead of what was packed.
    let stretches = 0;
    while (scan.spare()) stretches++;
    expect(stretches).toBeGreaterThan(3);
    expect(scan.finished).toBe(false);
    expect(list.length).toBeLessThan(16_384 + 2 * 2048);
    expect([...list].length).toBe(scanRoots(roots, { skip: new Set() }).entries.length); // the packer's pull goes on
  });
});
