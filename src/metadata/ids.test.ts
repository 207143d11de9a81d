import { describe, expect, it } from 'vitest';
import { isBackupError } from '../errors.js';
import { compactUtc, newBackupId, resolveBackupId } from './ids.js';
import type { BackupRecord } from './record.js';

const records = ['20261124T020000Z-full-7f3a', '20261124T020000Z-full-7f4b', '20261125T020000Z-incremental-0001'].map(
  (id) => ({ id }) as BackupRecord,
);

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('backup ids', () => {
  it('are readable and sort by time', () => {
    const date = new Date('2026-11-24T02:00:00.123Z');
    expect(compactUtc(date)).toBe('20261124T020000Z');
    expect(newBackupId('full', date, new Set())).toMatch(/^20261124T020000Z-full-[0-9a-f]{4}$/);
    const earlier = newBackupId('incremental', new Date('2026-11-23T23:59:59Z'), new Set());
    expect([newBackupId('full', date, new Set()), earlier].sort()[0]).toBe(earlier);
  });

  it('never repeat an id already taken', () => {
    const date = new Date('2026-11-24T02:00:00Z');
    const taken = new Set<string>();
    for (let i = 0; i < 500; i++) taken.add(newBackupId('full', date, taken));
    expect(taken.size).toBe(500);
  });
});

describe('resolveBackupId', () => {
  it('accepts a full id or a unique prefix', () => {
    expect(resolveBackupId(records, '20261124T020000Z-full-7f3a').id).toBe('20261124T020000Z-full-7f3a');
    expect(resolveBackupId(records, '20261125').id).toBe('20261125T020000Z-incremental-0001');
    expect(resolveBackupId(records, '20261124T020000Z-full-7f4').id).toBe('20261124T020000Z-full-7f4b');
  });

  it('lists the candidates of an ambiguous prefix', () => {
    const error = errorOf(() => resolveBackupId(records, '20261124'));
    expect(isBackupError(error, 'AMBIGUOUS_ID')).toBe(true);
    expect((error as Error).message).toBe(
      'backup id 20261124 is ambiguous: it matches 20261124T020000Z-full-7f3a, 20261124T020000Z-full-7f4b; give more characters',
    );
  });

  it('refuses unknown and empty ids', () => {
    expect(isBackupError(errorOf(() => resolveBackupId(records, 'x')), 'BACKUP_NOT_FOUND')).toBe(true);
    expect(isBackupError(errorOf(() => resolveBackupId(records, '  ')), 'USAGE')).toBe(true);
  });
});
