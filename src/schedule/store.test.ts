import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackupError } from '../errors.js';
import { backupLayout } from '../repository/layout.js';
import {
  addSchedule,
  listSchedules,
  readSchedules,
  recordRun,
  removeSchedule,
  scheduleFiles,
  SCHEDULES_SCHEMA_VERSION,
  type ScheduleFiles,
} from './store.js';
import type { NewSchedule } from './types.js';

let dir: string;
let files: ScheduleFiles;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mcp-schedule-store-'));
  files = scheduleFiles(backupLayout(path.join(dir, 'backup')));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const NOW = new Date('2026-05-01T10:00:00.000Z');
const nightly: NewSchedule = { expression: '0 2 * * *', timezone: 'UTC', backup: { type: 'full' } };

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isBackupError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('it succeeded');
}

describe('addSchedule', () => {
  it('stores the schedule with its defaults and gives its reading and next three runs', async () => {
    const added = await addSchedule(
      files,
      {
        expression: '0 2 * * *',
        timezone: 'europe/berlin',
        description: 'Nightly',
        backup: { type: 'incremental', compressionLevel: 9, recipients: ['age1abc'] },
        retention: { keep: 7, days: 14 },
      },
      NOW,
    );
    expect(added.schedule.id).toMatch(/^sch-[0-9a-f]{8}$/);
    expect(added.reading).toBe('At 02:00, every day');
    expect(added.nextRuns.map((d) => d.toISOString())).toEqual([
      '2026-05-02T00:00:00.000Z',
      '2026-05-03T00:00:00.000Z',
      '2026-05-04T00:00:00.000Z',
    ]);
    const { schedules, schemaVersion } = await readSchedules(files.file);
    expect(schemaVersion).toBe(SCHEDULES_SCHEMA_VERSION);
    expect(schedules).toEqual([
      {
        id: added.schedule.id,
        expression: '0 2 * * *',
        timezone: 'Europe/Berlin',
        createdAt: NOW.toISOString(),
        description: 'Nightly',
        backup: { type: 'incremental', includeLogs: false, volumes: true, compress: true, compressionLevel: 9, encrypt: true, recipients: ['age1abc'] },
        retention: { keep: 7, days: 14 },
        state: { coveredFor: '0 2 * * * @ Europe/Berlin' },
      },
    ]);
    expect((await fs.stat(files.file)).mode & 0o777).toBe(0o600);
  });

  it('defaults the timezone to the machine zone', async () => {
    const added = await addSchedule(files, { ...nightly, timezone: undefined }, NOW);
    expect(added.schedule.timezone).toBe(new Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it.each([
    [{ ...nightly, expression: '0 25 * * *' }, 'CRON_INVALID', /hour must be 0-23 \(got 25\)/],
    [{ ...nightly, timezone: 'Nowhere/Land' }, 'USAGE', /unknown timezone/],
    [{ ...nightly, backup: { type: 'service' } }, 'USAGE', /needs --services/],
    [{ ...nightly, backup: { type: 'full', compressionLevel: 12 } }, 'USAGE', /1-9/],
    [{ ...nightly, backup: { type: 'full', compress: false, compressionLevel: 5 } }, 'USAGE', /--no-compress/],
    [{ ...nightly, backup: { type: 'full', recipients: ['AGE-SECRET-KEY-1XYZ'] } }, 'USAGE', /never to a secret key/],
    [{ ...nightly, retention: { keep: -1 } }, 'USAGE', /--keep/],
    [{ ...nightly, retention: { days: 1.5 } }, 'USAGE', /--days/],
  ] as [NewSchedule, string, RegExp][])('refuses %j and leaves schedules.json unchanged', async (input, code, message) => {
    await addSchedule(files, nightly, NOW);
    const before = await fs.readFile(files.file, 'utf8');
    const error = await errorOf(addSchedule(files, input, NOW));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(await fs.readFile(files.file, 'utf8')).toBe(before);
  });

  it('refuses an invalid expression without creating the file', async () => {
    await errorOf(addSchedule(files, { ...nightly, expression: '61 * * * *' }, NOW));
    await expect(fs.stat(files.file)).rejects.toThrow(/ENOENT/);
  });
});

describe('reading schedules.json', () => {
  it('a missing file is no schedules', async () => {
    expect(await readSchedules(files.file)).toEqual({ schedules: [], schemaVersion: 0, exists: false });
    expect(await listSchedules(files, NOW)).toEqual([]);
  });

  it('refuses a file that is not JSON, names it, and never overwrites it', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    await fs.writeFile(files.file, '{"schemaVersion": 1, "schedules": [');
    const error = await errorOf(readSchedules(files.file));
    expect(error.code).toBe('INDEX_CORRUPT');
    expect(error.message).toContain(files.file);
    expect(error.message).toContain('left as it is');
    expect((await errorOf(addSchedule(files, nightly, NOW))).code).toBe('INDEX_CORRUPT');
    expect(await fs.readFile(files.file, 'utf8')).toBe('{"schemaVersion": 1, "schedules": [');
  });

  it('refuses a schedule that does not validate, saying where, on one line', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    const text = JSON.stringify({
      schemaVersion: 1,
      schedules: [{ id: 'sch-1', expression: '0 2 * * *', timezone: 'UTC', createdAt: 'yesterday', backup: { type: 'weekly' } }],
    });
    await fs.writeFile(files.file, text);
    const error = await errorOf(readSchedules(files.file));
    expect(error.code).toBe('INDEX_CORRUPT');
    expect(error.message).toMatch(/schedules\[0\]\.createdAt/);
    expect(error.message).toMatch(/schedules\[0\]\.backup\.type/);
    expect(error.message).not.toContain('\n');
  });

  it('refuses two schedules with one id', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    const one = { id: 'sch-1', expression: '0 2 * * *', timezone: 'UTC', createdAt: NOW.toISOString(), backup: { type: 'full' } };
    await fs.writeFile(files.file, JSON.stringify({ schemaVersion: 1, schedules: [one, one] }));
    expect((await errorOf(readSchedules(files.file))).message).toMatch(/two schedules have the id sch-1/);
  });

  it('refuses a newer schema version, and leaves the file alone', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    await fs.writeFile(files.file, JSON.stringify({ schemaVersion: 2, schedules: [] }));
    const error = await errorOf(addSchedule(files, nightly, NOW));
    expect(error).toEqual({
      code: 'INDEX_TOO_NEW',
      message: `${files.file} has schema version 2, newer than this mcp backup knows (1): upgrade mcp backup`,
    });
    expect(JSON.parse(await fs.readFile(files.file, 'utf8'))).toEqual({ schemaVersion: 2, schedules: [] });
  });

  it('migrates a version 0 file (a bare list) on the first write, after keeping a copy of it', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    const legacy = JSON.stringify([
      { id: 'nightly', expression: '0 2 * * *', timezone: 'UTC', createdAt: '2026-01-01T00:00:00Z', backup: { type: 'full' } },
    ]);
    await fs.writeFile(files.file, legacy);
    const read = await readSchedules(files.file);
    expect(read.schemaVersion).toBe(0);
    expect(read.schedules[0]!.backup).toEqual({ type: 'full', includeLogs: false, volumes: true, compress: true, encrypt: false });
    // Reading alone never writes.
    await expect(fs.stat(`${files.file}.v0.bak`)).rejects.toThrow(/ENOENT/);

    await addSchedule(files, nightly, NOW);
    expect(await fs.readFile(`${files.file}.v0.bak`, 'utf8')).toBe(legacy);
    expect((await fs.stat(`${files.file}.v0.bak`)).mode & 0o777).toBe(0o600);
    const after = await readSchedules(files.file);
    expect(after.schemaVersion).toBe(1);
    expect(after.schedules.map((s) => s.id)).toContain('nightly');
  });
});

describe('removeSchedule and ids', () => {
  it('removes by id or unique prefix; ambiguous and unknown ids are errors', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    const make = (id: string) => ({ id, expression: '0 2 * * *', timezone: 'UTC', createdAt: NOW.toISOString(), backup: { type: 'full' } });
    await fs.writeFile(files.file, JSON.stringify({ schemaVersion: 1, schedules: [make('sch-aaaa1111'), make('sch-aaaa2222'), make('sch-bbbb3333')] }));

    expect(await errorOf(removeSchedule(files, 'sch-aaaa'))).toEqual({
      code: 'AMBIGUOUS_ID',
      message: 'schedule id sch-aaaa is ambiguous: it matches sch-aaaa1111, sch-aaaa2222; give more characters',
    });
    expect((await errorOf(removeSchedule(files, 'sch-cccc'))).code).toBe('SCHEDULE_NOT_FOUND');
    expect((await removeSchedule(files, 'sch-b')).id).toBe('sch-bbbb3333');
    expect((await removeSchedule(files, 'sch-aaaa1111')).id).toBe('sch-aaaa1111');
    expect((await readSchedules(files.file)).schedules.map((s) => s.id)).toEqual(['sch-aaaa2222']);
  });
});

describe('listSchedules and recordRun', () => {
  it('shows the reading, the next run, and what recordRun wrote', async () => {
    const { schedule } = await addSchedule(files, nightly, NOW);
    await recordRun(files, schedule.id, (state) => ({
      ...state,
      coveredUntil: '2026-05-02T02:00:00.000Z',
      lastRunAt: '2026-05-02T02:00:00.000Z',
      lastResult: 'failed',
      lastError: 'no space left',
    }));
    const [view] = await listSchedules(files, new Date('2026-05-02T03:00:00Z'));
    expect(view).toMatchObject({
      reading: 'At 02:00, every day',
      overdue: false,
      schedule: { id: schedule.id, state: { lastResult: 'failed', lastError: 'no space left' } },
    });
    expect(view!.nextRunAt?.toISOString()).toBe('2026-05-03T02:00:00.000Z');

    // A day later with no scheduler running: overdue, shown with the missed slot.
    const [late] = await listSchedules(files, new Date('2026-05-03T05:00:00Z'));
    expect(late).toMatchObject({ overdue: true });
    expect(late!.nextRunAt?.toISOString()).toBe('2026-05-03T02:00:00.000Z');
  });

  it('shows a hand-edited invalid expression instead of failing the whole list', async () => {
    await fs.mkdir(path.dirname(files.file), { recursive: true });
    const bad = { id: 'sch-1', expression: '0 25 * * *', timezone: 'UTC', createdAt: NOW.toISOString(), backup: { type: 'full' } };
    await fs.writeFile(files.file, JSON.stringify({ schemaVersion: 1, schedules: [bad] }));
    const [view] = await listSchedules(files, NOW);
    expect(view!.invalid).toMatch(/hour must be 0-23/);
    expect(view!.nextRunAt).toBeNull();
  });

  it('drops a result for a schedule deleted meanwhile', async () => {
    const { schedule } = await addSchedule(files, nightly, NOW);
    await removeSchedule(files, schedule.id);
    expect(await recordRun(files, schedule.id, (state) => ({ ...state, lastResult: 'success' }))).toBeUndefined();
    expect((await readSchedules(files.file)).schedules).toEqual([]);
  });
});
