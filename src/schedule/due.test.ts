import { describe, expect, it } from 'vitest';
import { computeDue, scheduleFingerprint, type DueDecision, type DueInput } from './due.js';

interface Case {
  about: string;
  expression: string;
  timezone?: string;
  createdAt: string;
  coveredUntil?: string;
  /** Defaults to the fingerprint of expression and timezone (the schedule was not edited). */
  coveredFor?: string;
  now: string;
  expected:
    | { status: 'waiting'; nextRunAt: string | null }
    | { status: 'changed'; nextRunAt: string | null }
    | { status: 'due'; slot: string; missedSlots: number; late: boolean; nextRunAt: string | null; missedCapped?: boolean };
}

function input(c: Case): DueInput {
  const timezone = c.timezone ?? 'UTC';
  return {
    expression: c.expression,
    timezone,
    createdAt: c.createdAt,
    state: {
      ...(c.coveredUntil !== undefined && { coveredUntil: c.coveredUntil }),
      coveredFor: c.coveredFor ?? scheduleFingerprint({ expression: c.expression, timezone }),
    },
  };
}

function plain(decision: DueDecision): Record<string, unknown> {
  const out: Record<string, unknown> = { status: decision.status, nextRunAt: decision.nextRunAt?.toISOString() ?? null };
  if (decision.status === 'due') {
    Object.assign(out, { slot: decision.slot.toISOString(), missedSlots: decision.missedSlots, late: decision.late });
    if (decision.missedCapped) out.missedCapped = true;
  }
  return out;
}

const DAILY = '0 2 * * *';

const CASES: Case[] = [
  {
    about: 'a new schedule does not run on creation, even at its own time',
    expression: DAILY,
    createdAt: '2026-05-01T02:00:00.000Z',
    now: '2026-05-01T02:00:00.000Z',
    expected: { status: 'waiting', nextRunAt: '2026-05-02T02:00:00.000Z' },
  },
  {
    about: 'a new schedule waits for its first slot after creation',
    expression: DAILY,
    createdAt: '2026-05-01T10:00:00.000Z',
    now: '2026-05-02T01:59:59.999Z',
    expected: { status: 'waiting', nextRunAt: '2026-05-02T02:00:00.000Z' },
  },
  {
    about: 'due at its slot, on time',
    expression: DAILY,
    createdAt: '2026-05-01T10:00:00.000Z',
    now: '2026-05-02T02:00:00.000Z',
    expected: { status: 'due', slot: '2026-05-02T02:00:00.000Z', missedSlots: 0, late: false, nextRunAt: '2026-05-03T02:00:00.000Z' },
  },
  {
    about: 'a few seconds after the slot is still on time',
    expression: DAILY,
    createdAt: '2026-05-01T10:00:00.000Z',
    coveredUntil: '2026-05-01T02:00:00.000Z',
    now: '2026-05-02T02:00:04.000Z',
    expected: { status: 'due', slot: '2026-05-02T02:00:00.000Z', missedSlots: 0, late: false, nextRunAt: '2026-05-03T02:00:00.000Z' },
  },
  {
    about: 'a slot already covered is not due again',
    expression: DAILY,
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-02T02:00:00.000Z',
    now: '2026-05-02T02:00:30.000Z',
    expected: { status: 'waiting', nextRunAt: '2026-05-03T02:00:00.000Z' },
  },
  {
    about: 'down for hours past the slot: one late run',
    expression: DAILY,
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-01T02:00:00.000Z',
    now: '2026-05-02T09:30:00.000Z',
    expected: { status: 'due', slot: '2026-05-02T02:00:00.000Z', missedSlots: 0, late: true, nextRunAt: '2026-05-03T02:00:00.000Z' },
  },
  {
    about: 'down for a week: one run for the latest slot, six earlier slots missed',
    expression: DAILY,
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-01T02:00:00.000Z',
    now: '2026-05-08T09:00:00.000Z',
    expected: { status: 'due', slot: '2026-05-08T02:00:00.000Z', missedSlots: 6, late: true, nextRunAt: '2026-05-09T02:00:00.000Z' },
  },
  {
    about: 'an every-second schedule down for a day stops counting missed slots at the limit',
    expression: '* * * * * *',
    createdAt: '2026-05-01T00:00:00.000Z',
    coveredUntil: '2026-05-01T00:00:00.000Z',
    now: '2026-05-02T00:00:00.500Z',
    expected: {
      status: 'due',
      slot: '2026-05-02T00:00:00.000Z',
      missedSlots: 1000,
      missedCapped: true,
      late: true,
      nextRunAt: '2026-05-02T00:00:01.000Z',
    },
  },
  {
    about: 'a schedule edited since its last slot: changed, runs at the first slot after now',
    expression: '0 8 * * *',
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-02T02:00:00.000Z',
    coveredFor: scheduleFingerprint({ expression: DAILY, timezone: 'UTC' }),
    now: '2026-05-02T10:00:00.000Z',
    expected: { status: 'changed', nextRunAt: '2026-05-03T08:00:00.000Z' },
  },
  {
    about: 'once the change is recorded (coveredUntil = when it was seen), the old slots stay passed over',
    expression: '0 8 * * *',
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-02T10:00:00.000Z',
    now: '2026-05-02T10:00:05.000Z',
    expected: { status: 'waiting', nextRunAt: '2026-05-03T08:00:00.000Z' },
  },
  {
    about: 'a timezone change counts as an edit',
    expression: DAILY,
    timezone: 'Europe/Berlin',
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-02T02:00:00.000Z',
    coveredFor: scheduleFingerprint({ expression: DAILY, timezone: 'UTC' }),
    now: '2026-05-02T10:00:00.000Z',
    expected: { status: 'changed', nextRunAt: '2026-05-03T00:00:00.000Z' },
  },
  {
    about: 'whitespace is not an edit',
    expression: '0  2 * *  *',
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-05-01T02:00:00.000Z',
    coveredFor: scheduleFingerprint({ expression: DAILY, timezone: 'UTC' }),
    now: '2026-05-02T02:00:00.000Z',
    expected: { status: 'due', slot: '2026-05-02T02:00:00.000Z', missedSlots: 0, late: false, nextRunAt: '2026-05-03T02:00:00.000Z' },
  },
  {
    about: 'a clock set back (coveredUntil in the future) does not stall the schedule',
    expression: DAILY,
    createdAt: '2026-04-01T10:00:00.000Z',
    coveredUntil: '2026-06-01T02:00:00.000Z',
    now: '2026-05-02T02:00:00.000Z',
    expected: { status: 'waiting', nextRunAt: '2026-05-03T02:00:00.000Z' },
  },
  // Europe/Berlin spring forward: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z).
  {
    about: 'DST gap: 02:30 does not exist; due at 03:00 local (01:00Z)',
    expression: '30 2 * * *',
    timezone: 'Europe/Berlin',
    createdAt: '2026-03-01T00:00:00.000Z',
    coveredUntil: '2026-03-28T01:30:00.000Z',
    now: '2026-03-29T01:00:00.000Z',
    expected: { status: 'due', slot: '2026-03-29T01:00:00.000Z', missedSlots: 0, late: false, nextRunAt: '2026-03-30T00:30:00.000Z' },
  },
  {
    about: 'DST gap: not due a second before the end of the gap',
    expression: '30 2 * * *',
    timezone: 'Europe/Berlin',
    createdAt: '2026-03-01T00:00:00.000Z',
    coveredUntil: '2026-03-28T01:30:00.000Z',
    now: '2026-03-29T00:59:59.000Z',
    expected: { status: 'waiting', nextRunAt: '2026-03-29T01:00:00.000Z' },
  },
  // Europe/Berlin fall back: 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z); 02:30 happens at 00:30Z and 01:30Z.
  {
    about: 'DST repeat: a daily 02:30 runs at the first pass only',
    expression: '30 2 * * *',
    timezone: 'Europe/Berlin',
    createdAt: '2026-10-01T00:00:00.000Z',
    coveredUntil: '2026-10-25T00:30:00.000Z',
    now: '2026-10-25T01:30:00.000Z',
    expected: { status: 'waiting', nextRunAt: '2026-10-26T01:30:00.000Z' },
  },
  {
    about: 'DST repeat: an interval schedule runs in the second pass too',
    expression: '30 * * * *',
    timezone: 'Europe/Berlin',
    createdAt: '2026-10-01T00:00:00.000Z',
    coveredUntil: '2026-10-25T00:30:00.000Z',
    now: '2026-10-25T01:30:00.000Z',
    expected: { status: 'due', slot: '2026-10-25T01:30:00.000Z', missedSlots: 0, late: false, nextRunAt: '2026-10-25T02:30:00.000Z' },
  },
  {
    about: 'DST repeat: a scheduler down across the change misses the slots in real time, not local time',
    expression: '0 * * * *',
    timezone: 'Europe/Berlin',
    createdAt: '2026-10-01T00:00:00.000Z',
    coveredUntil: '2026-10-24T22:00:00.000Z',
    now: '2026-10-25T03:10:00.000Z',
    // 22Z..03Z is 5 real hours: slots at 23Z, 00Z, 01Z, 02Z missed, 03Z run.
    expected: { status: 'due', slot: '2026-10-25T03:00:00.000Z', missedSlots: 4, late: true, nextRunAt: '2026-10-25T04:00:00.000Z' },
  },
  {
    about: 'an expression with no run left waits forever',
    expression: '0 0 29 2 *',
    createdAt: '2026-03-01T00:00:00.000Z',
    now: '2026-03-02T00:00:00.000Z',
    expected: { status: 'waiting', nextRunAt: '2028-02-29T00:00:00.000Z' },
  },
];

describe('computeDue', () => {
  it.each(CASES)('$about', (c) => {
    expect(plain(computeDue(input(c), new Date(c.now)))).toEqual(c.expected);
  });

  it('lateAfterMs decides when a run on the slot counts as a catch-up', () => {
    const c = { ...CASES[2]!, now: '2026-05-02T02:00:10.000Z' };
    const due = computeDue(input(c), new Date(c.now), { lateAfterMs: 5_000 });
    expect(due.status === 'due' && due.late).toBe(true);
  });

  it('refuses an invalid expression from a hand-edited file', () => {
    expect(() => computeDue({ expression: '0 25 * * *', timezone: 'UTC', createdAt: '2026-01-01T00:00:00Z', state: {} }, new Date())).toThrow(
      /hour must be 0-23/,
    );
  });

  it('a schedule without coveredFor (written by hand) is not taken for edited', () => {
    const due = computeDue({ expression: DAILY, timezone: 'UTC', createdAt: '2026-05-01T10:00:00Z', state: {} }, new Date('2026-05-02T02:00:00Z'));
    expect(due.status).toBe('due');
  });
});
