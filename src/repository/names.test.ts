import { describe, expect, it } from 'vitest';
import { isObjectOf, manifestNameFor, parseObjectName } from './names.js';

const ID = '20261124T020000Z-full-7f3a';

describe('object names in archives/', () => {
  it.each([
    [`${ID}.tar.gz`, { kind: 'archive', id: ID, compression: 'gzip', encrypted: false }],
    [`${ID}.tar`, { kind: 'archive', id: ID, compression: 'none', encrypted: false }],
    [`${ID}.tar.gz.age`, { kind: 'archive', id: ID, compression: 'gzip', encrypted: true }],
    [`${ID}.tar.age`, { kind: 'archive', id: ID, compression: 'none', encrypted: true }],
    [`${ID}.manifest.json.gz`, { kind: 'manifest', id: ID, encrypted: false }],
    [`${ID}.manifest.json.gz.age`, { kind: 'manifest', id: ID, encrypted: true }],
    ['20261124T020000Z-incremental-0a1b.tar.gz', { kind: 'archive', id: '20261124T020000Z-incremental-0a1b', compression: 'gzip', encrypted: false }],
  ])('%s is ours', (name, expected) => {
    expect(parseObjectName(name)).toEqual(expected);
  });

  it.each([
    'README.txt',
    `${ID}.tar.gz.tmp`,
    `.${ID}.tar.gz`,
    `${ID}.zip`,
    `${ID}.manifest.json`,
    '20261124T020000Z-weekly-7f3a.tar.gz',
    '2026-11-24-full-7f3a.tar.gz',
    `../${ID}.tar.gz`,
  ])('%s is not ours', (name) => {
    expect(parseObjectName(name)).toBeUndefined();
  });

  it('tells whose files a name is', () => {
    expect(isObjectOf(`${ID}.tar.gz`, ID)).toBe(true);
    expect(isObjectOf(`${ID}.manifest.json.gz`, ID)).toBe(true);
    expect(isObjectOf('20261124T020000Z-full-0000.tar.gz', ID)).toBe(false);
    expect(isObjectOf('notes.txt', ID)).toBe(false);
    expect(manifestNameFor(ID, true)).toBe(`${ID}.manifest.json.gz.age`);
  });
});
