import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../errors.js';
import {
  DEFAULT_RETENTION,
  planRetention,
  type RetentionBackup,
  type RetentionPlan,
  type RetentionPolicy,
} from './policy.js';

// Golden files (golden/<name>.json) hold an input history and the plan expected for it: they are the spec, each
// reviewed by hand. `UPDATE_GOLDEN=1 npx vitest run src/retention` rewrites their `expected` from the code; review
// the diff before committing it.

interface GoldenCase {
  about: string;
  now: string;
  policy: RetentionPolicy;
  /** Set for a schedule's retention: the plan is given only that schedule's backups. */
  schedule?: string;
  /** With `schedule`: pass the rest of the index as `others`. */
  passOthers?: boolean;
  backups: RetentionBackup[];
  expected?: RetentionPlan;
}

const goldenPath = (name: string): string => fileURLToPath(new URL(`./golden/${name}.json`, import.meta.url));

function loadGolden(name: string): GoldenCase {
  return JSON.parse(readFileSync(goldenPath(name), 'utf8')) as GoldenCase;
}

/** Compares with the golden's `expected`, or rewrites it under UPDATE_GOLDEN=1. */
function checkGolden(name: string, golden: GoldenCase, actual: RetentionPlan): void {
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(goldenPath(name), formatGolden({ ...golden, expected: actual }));
    return;
  }
  expect(actual).toEqual(golden.expected);
}

/** JSON with one backup and one decision per line, so a golden reads as a table and diffs line by line. */
function formatGolden(golden: GoldenCase): string {
  const line = (value: unknown): string => JSON.stringify(value);
  const list = (items: readonly unknown[], indent: string): string =>
    items.length === 0 ? '[]' : `[\n${items.map((item) => `${indent}  ${line(item)}`).join(',\n')}\n${indent}]`;
  const { expected, backups, ...head } = golden;
  const fields = Object.entries(head).map(([key, value]) => `  ${line(key)}: ${line(value)}`);
  fields.push(`  "backups": ${list(backups, '  ')}`);
  if (expected) {
    fields.push(
      [
        '  "expected": {',
        `    "keep": ${line(expected.keep)},`,
        `    "remove": ${line(expected.remove)},`,
        `    "decisions": ${list(expected.decisions, '    ')}`,
        '  }',
      ].join('\n'),
    );
  }
  return `{\n${fields.join(',\n')}\n}\n`;
}

function runGolden(golden: GoldenCase): RetentionPlan {
  return planRetention(golden.backups, golden.policy, new Date(golden.now));
}

const GOLDEN = [
  'empty',
  'fewer-than-keep',
  'daily-keep-5',
  'days-only',
  'chain-tip-newest',
  'keep-1-days-0-chain',
  'broken-chain',
  'ties',
  'future-timestamps',
  'mixed-scopes',
  'safety-backups',
  'clock-jumped-forward',
];

describe('planRetention: golden histories', () => {
  for (const name of GOLDEN) {
    it(name, () => {
      const golden = loadGolden(name);
      expect(golden.schedule).toBeUndefined();
      checkGolden(name, golden, runGolden(golden));
    });
  }

  it('schedule-subset: the caller gives only the schedule’s backups (a plain filter)', () => {
    const golden = loadGolden('schedule-subset');
    const nightly = golden.backups.filter((b) => b.origin.kind === 'schedule' && b.origin.scheduleId === 'sched-nightly');
    const plan = planRetention(nightly, golden.policy, new Date(golden.now));
    expect(plan.decisions).toHaveLength(6);
    checkGolden('schedule-subset', golden, plan);
  });

  it('schedule-with-others: the rest of the index is passed as others', () => {
    const golden = loadGolden('schedule-with-others');
    const mine = (b: RetentionBackup): boolean => b.origin.kind === 'schedule' && b.origin.scheduleId === 'sched-nightly';
    const plan = planRetention(golden.backups.filter(mine), golden.policy, new Date(golden.now), {
      others: golden.backups.filter((b) => !mine(b)),
    });
    checkGolden('schedule-with-others', golden, plan);
  });

  it('every golden plan is well formed: one decision per backup, newest first, each with a reason', () => {
    for (const name of [...GOLDEN, 'schedule-subset', 'schedule-with-others']) {
      const golden = loadGolden(name);
      const plan = golden.expected;
      expect(plan, name).toBeDefined();
      if (!plan) continue;
      const planned = golden.schedule
        ? golden.backups.filter((b) => b.origin.kind === 'schedule' && b.origin.scheduleId === golden.schedule)
        : golden.backups;
      expect(plan.decisions.map((d) => d.id).sort(), name).toEqual(planned.map((b) => b.id).sort());
      expect(plan.keep, name).toEqual(plan.decisions.filter((d) => d.action === 'keep').map((d) => d.id));
      expect(plan.remove, name).toEqual(plan.decisions.filter((d) => d.action === 'remove').map((d) => d.id));
      for (const d of plan.decisions) expect(d.reasons.length, `${name} ${d.id}`).toBeGreaterThan(0);
      const times = plan.decisions.map((d) => Date.parse(planned.find((b) => b.id === d.id)?.createdAt ?? ''));
      expect(times, name).toEqual([...times].sort((a, b) => b - a));
    }
  });
});

// Table tests: small histories built in code.

const NOW = new Date('2026-03-31T12:00:00.000Z');
const FULL = { config: true, volumes: true, logs: false, platformConfig: true };

function backup(id: string, createdAt: string, more: Partial<RetentionBackup> = {}): RetentionBackup {
  return {
    id,
    type: more.parent === undefined ? 'full' : 'incremental',
    createdAt,
    services: ['filesystem', 'git'],
    parts: FULL,
    origin: { kind: 'manual' },
    ...more,
  };
}

function decision(plan: RetentionPlan, id: string): { action: string; reasons: string[] } {
  const found = plan.decisions.find((d) => d.id === id);
  if (!found) throw new Error(`no decision for ${id}`);
  return { action: found.action, reasons: found.reasons };
}

const isoAgo = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
const DAY = 86_400_000;

describe('planRetention: edge cases', () => {
  it('DEFAULT_RETENTION is the user document’s 10 backups and 30 days, frozen', () => {
    expect(DEFAULT_RETENTION).toEqual({ keep: 10, days: 30 });
    expect(Object.isFrozen(DEFAULT_RETENTION)).toBe(true);
  });

  it.each([
    { keep: -1, days: 30 },
    { keep: 1.5, days: 30 },
    { keep: Number.NaN, days: 30 },
    { keep: 10, days: -1 },
    { keep: 10, days: Number.POSITIVE_INFINITY },
  ])('refuses the policy %o with a USAGE error', (policy) => {
    expect(() => planRetention([], policy, NOW)).toThrowError(expect.objectContaining({ code: 'USAGE' }) as Error);
  });

  it('refuses an invalid now', () => {
    expect(() => planRetention([], DEFAULT_RETENTION, new Date('nope'))).toThrow(/valid current time/);
  });

  it('refuses an id that appears twice, in the list or across others', () => {
    const a = backup('a', isoAgo(DAY));
    const twice = (): RetentionPlan => planRetention([a, a], DEFAULT_RETENTION, NOW);
    expect(twice).toThrow(/appears twice/);
    try {
      planRetention([a], DEFAULT_RETENTION, NOW, { others: [a] });
      expect.unreachable();
    } catch (error) {
      expect(isBackupError(error, 'INDEX_CORRUPT')).toBe(true);
    }
  });

  it('the age boundary: exactly D days old is kept, one millisecond more is removed', () => {
    const newest = backup('c', isoAgo(0));
    const edge = backup('b', isoAgo(7 * DAY));
    const past = backup('a', isoAgo(7 * DAY + 1));
    const plan = planRetention([past, edge, newest], { keep: 10, days: 7 }, NOW);
    expect(decision(plan, 'b')).toEqual({ action: 'keep', reasons: ['among the 10 newest', 'younger than 7 days'] });
    expect(decision(plan, 'a')).toEqual({ action: 'remove', reasons: ['older than 7 days'] });
  });

  it('days 0: a backup made exactly now is kept, one made a millisecond before is removed', () => {
    const plan = planRetention([backup('a', isoAgo(1)), backup('b', isoAgo(0))], { keep: 10, days: 0 }, NOW);
    expect(decision(plan, 'b')).toEqual({
      action: 'keep',
      reasons: ['among the 10 newest', 'created now (days is 0)', 'newest restorable backup of scope filesystem,git (config+volumes+platform.yaml): never removed'],
    });
    expect(decision(plan, 'a')).toEqual({ action: 'remove', reasons: ['created before now (days is 0)'] });
  });

  it('keep 0 days 0 removes everything but the newest restorable chain of each scope', () => {
    const f = backup('f', isoAgo(3 * DAY));
    const i = backup('i', isoAgo(2 * DAY), { parent: 'f' });
    const old = backup('old', isoAgo(5 * DAY));
    const plan = planRetention([old, f, i], { keep: 0, days: 0 }, NOW);
    expect(plan.keep).toEqual(['i', 'f']);
    expect(plan.remove).toEqual(['old']);
    expect(decision(plan, 'old').reasons).toEqual(['keep is 0: none kept for being among the newest', 'created before now (days is 0)']);
    expect(decision(plan, 'f').reasons).toContain('base of kept incremental i');
  });

  it('a createdAt that is not an ISO 8601 instant is kept, listed last and not counted', () => {
    const plan = planRetention(
      [
        backup('good', isoAgo(DAY)),
        backup('no-offset', '2026-03-30T02:00:00'),
        backup('feb-30', '2026-02-30T02:00:00.000Z'),
        backup('words', 'yesterday'),
        backup('hour-24', '2026-03-30T24:00:00Z'),
      ],
      { keep: 1, days: 30 },
      NOW,
    );
    expect(plan.decisions.map((d) => d.id)).toEqual(['good', 'words', 'no-offset', 'hour-24', 'feb-30']);
    expect(plan.remove).toEqual([]);
    expect(decision(plan, 'good').reasons[0]).toBe('the newest');
    expect(decision(plan, 'words').reasons).toEqual(['created time "yesterday" is not an ISO 8601 instant: never removed by count or age']);
  });

  it('orders by instant, not by text: offsets and precision do not matter', () => {
    const plan = planRetention(
      [
        backup('z-early', '2026-03-30T03:00:00+02:00'), // 01:00Z
        backup('a-late', '2026-03-30T02:00Z'),
        backup('m-mid', '2026-03-30T01:30:00.000000Z'),
      ],
      { keep: 1, days: 30 },
      NOW,
    );
    expect(plan.decisions.map((d) => d.id)).toEqual(['a-late', 'm-mid', 'z-early']);
  });

  it('gives the same plan whatever the input order, and leaves the input alone', () => {
    const list = Array.from({ length: 9 }, (_, n) =>
      backup(`b${n}`, isoAgo((n % 4) * DAY * 10), n % 3 === 2 ? { parent: `b${n - 1}` } : {}),
    );
    const copy = structuredClone(list);
    const plan = planRetention(list, { keep: 3, days: 25 }, NOW);
    expect(list).toEqual(copy);
    expect(planRetention([...list].reverse(), { keep: 3, days: 25 }, NOW)).toEqual(plan);
  });

  it('a parent loop, a self-parent and an incremental with no parent are broken chains, removable', () => {
    const newest = backup('newest', isoAgo(0));
    const loopA = backup('loop-a', isoAgo(DAY), { parent: 'loop-b' });
    const loopB = backup('loop-b', isoAgo(2 * DAY), { parent: 'loop-a' });
    const self = backup('self', isoAgo(3 * DAY), { parent: 'self' });
    const bare = backup('bare', isoAgo(4 * DAY), { type: 'incremental' });
    const plan = planRetention([newest, loopA, loopB, self, bare], { keep: 1, days: 30 }, NOW);
    expect(plan.keep).toEqual(['newest']);
    expect(decision(plan, 'loop-a').reasons).toEqual(['not the newest (it is the 2nd)', 'chain broken: parent loop through loop-a']);
    expect(decision(plan, 'self').reasons).toEqual(['not the newest (it is the 4th)', 'chain broken: parent loop through self']);
    expect(decision(plan, 'bare').reasons).toEqual(['not the newest (it is the 5th)', 'chain broken: incremental with no parent']);
  });

  it('a chain whose base incremental has no parent is broken, and says which', () => {
    const bare = backup('bare', isoAgo(2 * DAY), { type: 'incremental' });
    const tip = backup('tip', isoAgo(DAY), { parent: 'bare' });
    const plan = planRetention([bare, tip], { keep: 0, days: 30 }, NOW);
    expect(plan.remove).toEqual(['tip', 'bare']);
    expect(decision(plan, 'tip').reasons).toContain('chain broken: incremental bare has no parent');
  });

  it('every backup of the only scope older than D days: its newest restorable chain survives', () => {
    const f = backup('f', isoAgo(90 * DAY));
    const i = backup('i', isoAgo(80 * DAY), { parent: 'f' });
    const broken = backup('broken', isoAgo(70 * DAY), { parent: 'gone' });
    const plan = planRetention([f, i, broken], DEFAULT_RETENTION, NOW);
    expect(plan.keep).toEqual(['i', 'f']);
    expect(decision(plan, 'broken')).toEqual({
      action: 'remove',
      reasons: ['older than 30 days', 'chain broken: parent gone missing'],
    });
  });

  it('a scope is services and parts, not type: a service backup with logs is its own scope', () => {
    const withLogs = { ...FULL, logs: true };
    const plan = planRetention(
      [
        backup('full', isoAgo(3 * DAY)),
        backup('full-logs', isoAgo(4 * DAY), { parts: withLogs }),
        backup('svc-unsorted', isoAgo(5 * DAY), { type: 'service', services: ['git', 'filesystem'] }),
      ],
      { keep: 0, days: 30 },
      NOW,
    );
    // svc-unsorted has the same services (sorted) and parts as `full`, which is newer: it goes.
    expect(plan.keep).toEqual(['full', 'full-logs']);
    expect(decision(plan, 'full-logs').reasons).toContain(
      'newest restorable backup of scope filesystem,git (config+volumes+logs+platform.yaml): never removed',
    );
  });

  it('a chain branching from one full keeps the full once for each kept branch', () => {
    const f = backup('f', isoAgo(5 * DAY));
    const a = backup('a', isoAgo(2 * DAY), { parent: 'f' });
    const b = backup('b', isoAgo(1 * DAY), { parent: 'f' });
    const plan = planRetention([f, a, b], { keep: 2, days: 30 }, NOW);
    expect(decision(plan, 'f')).toEqual({
      action: 'keep',
      reasons: ['not among the 2 newest (it is the 3rd)', 'base of kept incremental b', 'base of kept incremental a'],
    });
  });

  it('a schedule subset without others loses the base of a manual incremental; with others it stays', () => {
    const sched = { kind: 'schedule', scheduleId: 's' } as const;
    const sf = backup('sf', isoAgo(5 * DAY), { origin: sched });
    const mi = backup('mi', isoAgo(4 * DAY), { parent: 'sf' });
    const sNew = backup('s-new', isoAgo(1 * DAY), { origin: sched });
    const subset = [sf, sNew];
    expect(planRetention(subset, { keep: 1, days: 30 }, NOW).remove).toEqual(['sf']);
    const plan = planRetention(subset, { keep: 1, days: 30 }, NOW, { others: [mi] });
    expect(plan.remove).toEqual([]);
    expect(decision(plan, 'sf').reasons).toContain('base of incremental mi, which is not in this plan');
  });

  it('ranks with ordinals people read: 2nd, 3rd, 11th, 12th, 13th, 21st, 22nd, 23rd', () => {
    const list = Array.from({ length: 23 }, (_, n) => backup(`b${String(n).padStart(2, '0')}`, isoAgo(n * 1000)));
    const plan = planRetention(list, { keep: 1, days: 30 }, NOW);
    const rank = (n: number): string | undefined => plan.decisions[n - 1]?.reasons[0];
    expect([2, 3, 11, 12, 13, 21, 22, 23].map(rank)).toEqual(
      ['2nd', '3rd', '11th', '12th', '13th', '21st', '22nd', '23rd'].map((o) => `not the newest (it is the ${o})`),
    );
  });
});
