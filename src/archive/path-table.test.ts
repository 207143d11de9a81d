import { describe, expect, it } from 'vitest';
import { PathTable } from './path-table.js';

/** Paths in archive order, as a state holds them: folders, then what is in them; with long and non-ASCII names. */
function treePaths(count: number, seed: number): string[] {
  let x = seed;
  const random = (n: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };
  const names = ['a', 'données', 'ß', '日本語', '😀 emoji', 'x'.repeat(150), 'y'.repeat(5000), 'node_modules', 'file.json'];
  const paths: string[] = [];
  const folders = ['svc'];
  while (paths.length < count) {
    const folder = folders[random(folders.length)]!;
    const path = `${folder}/${names[random(names.length)]}-${paths.length}`;
    paths.push(path);
    if (random(4) === 0 && path.length < 20_000) folders.push(path);
  }
  return paths;
}

describe('PathTable', () => {
  it('gives back every path by slot and finds each by path, in order, at random and after trimming', () => {
    const paths = treePaths(5000, 7);
    const table = new PathTable();
    paths.forEach((p, i) => expect(table.add(p)).toBe(i));
    expect(table.slots).toBe(paths.length);
    expect(table.size).toBe(paths.length);
    const check = () => {
      paths.forEach((p, i) => expect(table.pathAt(i)).toBe(p));
      for (let k = 0; k < 3000; k++) {
        const i = (k * 7919) % paths.length;
        expect(table.pathAt(i)).toBe(paths[i]);
        expect(table.find(paths[i]!)).toBe(i);
      }
    };
    check();
    table.trim();
    check();
    expect(table.find('svc/nothing')).toBe(-1);
    expect(table.find(paths[3]! + '/')).toBe(-1);
    expect(table.find(paths[3]!.slice(0, -1))).toBe(-1);
  });

  it('adds a path once, forgets a removed one, and puts it in a new slot when it comes back', () => {
    const table = new PathTable();
    expect(table.add('a/b')).toBe(0);
    expect(table.add('a/c')).toBe(1);
    expect(table.add('a/b')).toBe(0);
    table.remove(0);
    expect(table.has(0)).toBe(false);
    expect(table.find('a/b')).toBe(-1);
    expect(table.size).toBe(1);
    expect(table.add('a/b')).toBe(2);
    expect([table.find('a/b'), table.find('a/c'), table.slots, table.size]).toEqual([2, 1, 3, 2]);
    expect(table.pathAt(0)).toBe('a/b');
  });

  it('refuses a path with a lone surrogate, and never finds one (UTF-8 would hold it as U+FFFD)', () => {
    const table = new PathTable();
    table.add('a/\ufffd');
    expect(() => table.add('b/\ud800')).toThrow(/not well-formed Unicode/);
    expect(table.find('a/\ud800')).toBe(-1);
    expect(table.find('a/\ufffd')).toBe(0);
  });
});
