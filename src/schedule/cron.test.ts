import { describe, expect, it } from 'vitest';
import { isBackupError } from '../errors.js';
import { describeCron, formatInZone, nextRuns, parseCron, resolveTimezone } from './cron.js';

function cronError(expression: string, timezone?: string): { code: string; message: string } {
  try {
    parseCron(expression, timezone);
  } catch (error) {
    if (isBackupError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`"${expression}" was accepted`);
}

const iso = (dates: Date[]): string[] => dates.map((d) => d.toISOString());

describe('parseCron accepts', () => {
  it.each([
    ['0 2 * * *', false],
    ['*/15 * * * *', false],
    ['0 9-17 * * MON-FRI', false],
    ['0 0 L * *', false],
    ['0 0 * * 5#2', false],
    ['0  2 * *   *', false],
    ['*/2 * * * * *', true],
  ])('%s', (expression, hasSeconds) => {
    const parsed = parseCron(expression, 'UTC');
    expect(parsed.hasSeconds).toBe(hasSeconds);
    expect(parsed.expression).toBe(expression.replace(/\s+/g, ' '));
  });

  it.each(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '@Daily'])('the macro %s', (macro) => {
    expect(parseCron(macro, 'UTC').expression).toBe(macro.toLowerCase());
  });
});

describe('parseCron refuses, naming the bad field', () => {
  it.each([
    ['0 25 * * *', 'invalid cron expression "0 25 * * *": hour must be 0-23 (got 25)'],
    ['61 2 * * *', 'invalid cron expression "61 2 * * *": minute must be 0-59 (got 61)'],
    ['0 2 32 * *', 'invalid cron expression "0 2 32 * *": day of month must be 1-31 (got 32)'],
    ['0 2 0 * *', 'invalid cron expression "0 2 0 * *": day of month must be 1-31 (got 0)'],
    ['0 2 * 13 *', 'invalid cron expression "0 2 * 13 *": month must be 1-12 (got 13)'],
    ['0 2 * * 8', 'invalid cron expression "0 2 * * 8": day of week must be 0-7 (got 8)'],
    ['0 2,30 * * *', 'invalid cron expression "0 2,30 * * *": hour must be 0-23 (got 30)'],
    ['0 1-40 * * *', 'invalid cron expression "0 1-40 * * *": hour must be 0-23 (got 40)'],
    ['70 * * * * *', 'invalid cron expression "70 * * * * *": second must be 0-59 (got 70)'],
  ])('%s', (expression, message) => {
    expect(cronError(expression)).toEqual({ code: 'CRON_INVALID', message });
  });

  it.each([
    ['*/0 * * * *', /minute field "\*\/0" is not valid \(.*stepping.*\)/],
    ['0 x * * *', /hour field "x" is not valid/],
    ['0 2 * FOO *', /month field "FOO" is not valid/],
    ['0 2 * * 5#9', /day of week field "5#9" is not valid \(nth weekday out of range/],
    ['5-1 * * * *', /minute field "5-1" is not valid/],
    ['* * * *', /expected 5 fields \(minute hour day-of-month month day-of-week\), or 6 with a leading second, got 4/],
    ['0 0 2 * * * 2030', /got 7/],
    ['@reboot', /@reboot is not supported/],
    ['@fortnightly', /unknown macro @fortnightly: use one of @yearly/],
    ['', /it is empty/],
    ['0 0 30 2 *', /it never runs: no date matches its day-of-month and month fields/],
  ])('%s', (expression, message) => {
    const error = cronError(expression);
    expect(error.code).toBe('CRON_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });

  it('keeps 29 February, which comes every four years', () => {
    expect(iso(nextRuns('0 0 29 2 *', 'UTC', new Date('2026-01-01T00:00:00Z'), 1))).toEqual(['2028-02-29T00:00:00.000Z']);
  });

  it('an unknown timezone is a usage error', () => {
    expect(cronError('0 2 * * *', 'Mars/Olympus')).toEqual({
      code: 'USAGE',
      message: 'unknown timezone "Mars/Olympus": use an IANA name such as Europe/Berlin, America/New_York or UTC',
    });
  });
});

describe('timezones', () => {
  it('canonicalises the name, and defaults to the machine zone', () => {
    expect(resolveTimezone('europe/berlin')).toBe('Europe/Berlin');
    expect(resolveTimezone(undefined)).toBe(new Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(parseCron('0 2 * * *').timezone).toBe(new Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it('reads the expression in its zone', () => {
    expect(iso(nextRuns('0 2 * * *', 'America/New_York', new Date('2026-01-10T00:00:00Z'), 2))).toEqual([
      '2026-01-10T07:00:00.000Z',
      '2026-01-11T07:00:00.000Z',
    ]);
  });
});

describe('describeCron', () => {
  it.each([
    ['0 2 * * *', 'At 02:00, every day'],
    ['@daily', 'At 00:00, every day'],
    ['30 14 * * 1-5', 'At 14:30, Monday through Friday'],
    ['*/15 * * * *', 'Every 15 minutes, every hour, every day'],
    ['0 3 * * 0', 'At 03:00, only on Sunday'],
    ['0 12 1 * +MON', '0 12 1 * +MON'],
  ])('%s -> %s', (expression, reading) => {
    expect(describeCron(expression)).toBe(reading);
  });
});

describe('nextRuns', () => {
  it('gives the next runs strictly after the reference', () => {
    expect(iso(nextRuns('0 2 * * *', 'UTC', new Date('2026-05-01T02:00:00Z'), 3))).toEqual([
      '2026-05-02T02:00:00.000Z',
      '2026-05-03T02:00:00.000Z',
      '2026-05-04T02:00:00.000Z',
    ]);
  });
});

// Europe/Berlin: on 2026-03-29 the clocks go from 02:00 to 03:00 (01:00 UTC); on 2026-10-25 from 03:00 back to
// 02:00 (01:00 UTC), so 02:00-02:59 happens twice.
describe('DST, Europe/Berlin', () => {
  const tz = 'Europe/Berlin';
  const local = (dates: Date[]): string[] => dates.map((d) => formatInZone(d, tz));

  it('a daily backup in the spring-forward gap runs once, right after the gap', () => {
    expect(local(nextRuns('30 2 * * *', tz, new Date('2026-03-27T12:00:00Z'), 4))).toEqual([
      '2026-03-28 02:30:00 +01:00',
      '2026-03-29 03:00:00 +02:00',
      '2026-03-30 02:30:00 +02:00',
      '2026-03-31 02:30:00 +02:00',
    ]);
  });

  it('a list of fixed times is fixed-time too: its 02:00 run is kept on the spring-forward day', () => {
    expect(local(nextRuns('0 2,14 * * *', tz, new Date('2026-03-28T23:00:00Z'), 3))).toEqual([
      '2026-03-29 03:00:00 +02:00',
      '2026-03-29 14:00:00 +02:00',
      '2026-03-30 02:00:00 +02:00',
    ]);
  });

  it('a daily backup in the repeated hour runs once, at the first 02:30', () => {
    expect(local(nextRuns('30 2 * * *', tz, new Date('2026-10-24T12:00:00Z'), 2))).toEqual([
      '2026-10-25 02:30:00 +02:00',
      '2026-10-26 02:30:00 +01:00',
    ]);
  });

  it('an interval schedule keeps its real-time rhythm: skips the gap, runs both passes of the repeated hour', () => {
    expect(local(nextRuns('*/30 * * * *', tz, new Date('2026-03-29T00:00:00Z'), 3))).toEqual([
      '2026-03-29 01:30:00 +01:00',
      '2026-03-29 03:00:00 +02:00',
      '2026-03-29 03:30:00 +02:00',
    ]);
    expect(local(nextRuns('*/30 * * * *', tz, new Date('2026-10-24T23:45:00Z'), 5))).toEqual([
      '2026-10-25 02:00:00 +02:00',
      '2026-10-25 02:30:00 +02:00',
      '2026-10-25 02:00:00 +01:00',
      '2026-10-25 02:30:00 +01:00',
      '2026-10-25 03:00:00 +01:00',
    ]);
  });
});
