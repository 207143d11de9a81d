/**
 * Cron expressions: validation, next run times and a human reading. Parsing and date arithmetic are croner's
 * (timezones, DST, L/W/# modifiers); this module pins down which forms the product accepts and turns croner's
 * errors into one line that names the bad field.
 *
 * Accepted forms:
 *   - 5 fields `minute hour day-of-month month day-of-week`, with `* , - /`, names (JAN-DEC, SUN-SAT) and croner's
 *     extensions (`L`, `W`, `#`, `?`);
 *   - 6 fields, a leading `second` field: for tests and the rare schedule that needs seconds;
 *   - the macros @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * Refused: 7 fields (a year field: a backup schedule that stops in a given year is a trap), `@reboot` (the daemon
 * cannot see the machine start), and any expression that never matches a date (`0 0 30 2 *`).
 *
 * Day of month and day of week combine with OR, as in Vixie cron (`0 2 1 * MON`: the 1st, and every Monday).
 *
 * DST. The scheduler uses croner's rules, which follow Vixie cron, with `fixedTimeRule: "no-wildcard"`:
 *   - a *fixed-time* expression (second, minute and hour without `*`, `?` or a step: `30 2 * * *`, `0 2,14 * * *`)
 *     whose local time falls in a spring-forward gap runs once, at the first valid time after the gap (02:30 on the
 *     last Sunday of March in Europe/Berlin runs at 03:00); a local time that occurs twice (autumn) runs once, on
 *     its first occurrence. So a daily backup runs exactly once on both DST days.
 *   - an *interval* expression (`*` or a step in second, minute or hour: `*\/30 * * * *`, `0 * * * *`) follows real
 *     time: times inside the gap do not exist and are skipped, and the repeated hour runs on both passes, so the
 *     interval between runs stays the same in real time.
 * croner's default rule would treat lists and ranges (`0 2,14 * * *`) as interval jobs, which would skip the 02:00
 * backup on the spring-forward day: "no-wildcard" keeps such a daily backup.
 */
import { Cron, type CronOptions } from 'croner';
import cronstrue from 'cronstrue';
import { BackupError } from '../errors.js';

export const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'] as const;

interface FieldSpec {
  name: string;
  min: number;
  max: number;
}

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59 };
const FIVE_FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

/** A validated expression, bound to its timezone. */
export interface ParsedCron {
  /** The expression as given, whitespace-normalised (a macro is kept as written, lower-cased). */
  expression: string;
  /** Canonical IANA name. */
  timezone: string;
  /** True for the 6-field form. */
  hasSeconds: boolean;
  /** The first run strictly after `after`, or null if there is none. */
  next(after: Date): Date | null;
  /** The latest run at or before `at`, or null if there is none. */
  latestAtOrBefore(at: Date): Date | null;
}

/** The machine's zone, as the runtime reports it. */
export function machineTimezone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * The canonical IANA name of `timezone` (`europe/berlin` -> `Europe/Berlin`), or the machine's zone when none is
 * given. An unknown zone is a USAGE error.
 */
export function resolveTimezone(timezone?: string): string {
  if (timezone === undefined || timezone.trim() === '') return machineTimezone();
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone.trim() }).resolvedOptions().timeZone;
  } catch {
    throw new BackupError(
      'USAGE',
      `unknown timezone "${timezone}": use an IANA name such as Europe/Berlin, America/New_York or UTC`,
      { timezone },
    );
  }
}

function normalise(expression: string): string {
  const trimmed = expression.trim().replace(/\s+/g, ' ');
  return trimmed.startsWith('@') ? trimmed.toLowerCase() : trimmed;
}

function cronOptions(timezone: string): CronOptions {
  return { timezone, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' };
}

function invalid(expression: string, why: string): BackupError {
  return new BackupError('CRON_INVALID', `invalid cron expression "${expression}": ${why}`, { expression, reason: why });
}

function cronerMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/^CronPattern:\s*/, '')
    .replace(/^configuration entry \S+ \([^)]*\) /, '')
    .replace(/\s*Value: .*$/, '')
    .replace(/\.$/, '');
}

/** Croner accepts the field alone (every other field `*`)? Used to find which field an error comes from. */
function fieldAloneError(fields: readonly string[], index: number): unknown {
  const probe = fields.map((field, i) => (i === index ? field : '*')).join(' ');
  try {
    new Cron(probe, cronOptions('UTC'));
    return undefined;
  } catch (error) {
    return error;
  }
}

/** The first plain number of the field outside its range, if any: the common mistake, worth its own message. */
function outOfRange(field: string, spec: FieldSpec): number | undefined {
  for (const part of field.split(',')) {
    // After `/` comes a step and after `#` an occurrence, not values of the field.
    const values = part.split(/[/#]/)[0] ?? '';
    for (const match of values.matchAll(/\d+/g)) {
      const value = Number(match[0]);
      if (value < spec.min || value > spec.max) return value;
    }
  }
  return undefined;
}

function explainField(expression: string, spec: FieldSpec, field: string, error: unknown): BackupError {
  const bad = outOfRange(field, spec);
  if (bad !== undefined) return invalid(expression, `${spec.name} must be ${spec.min}-${spec.max} (got ${bad})`);
  return invalid(expression, `${spec.name} field "${field}" is not valid (${cronerMessage(error)})`);
}

/**
 * Validates `expression` (see the module comment for what is accepted) in `timezone` (default: the machine's).
 * Throws CRON_INVALID with a message naming the bad field, or USAGE for an unknown timezone.
 */
export function parseCron(expression: string, timezone?: string): ParsedCron {
  const zone = resolveTimezone(timezone);
  const text = normalise(expression);
  if (text === '') throw invalid(expression, 'it is empty: give 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily');
  let hasSeconds = false;
  if (text.startsWith('@')) {
    if (text === '@reboot') throw invalid(expression, '@reboot is not supported (the daemon cannot see the machine start): give a time, such as @daily');
    if (!(CRON_MACROS as readonly string[]).includes(text)) {
      throw invalid(expression, `unknown macro ${text}: use one of ${CRON_MACROS.join(' ')}`);
    }
  } else {
    const fields = text.split(' ');
    if (fields.length !== 5 && fields.length !== 6) {
      throw invalid(
        expression,
        `expected 5 fields (minute hour day-of-month month day-of-week), or 6 with a leading second, got ${fields.length}`,
      );
    }
    hasSeconds = fields.length === 6;
    const specs = hasSeconds ? [SECOND, ...FIVE_FIELDS] : FIVE_FIELDS;
    for (let i = 0; i < fields.length; i++) {
      const error = fieldAloneError(fields, i);
      if (error !== undefined) throw explainField(expression, specs[i]!, fields[i]!, error);
    }
  }
  let cron: Cron;
  try {
    cron = new Cron(text, cronOptions(zone));
  } catch (error) {
    throw invalid(expression, cronerMessage(error));
  }
  // Checked from a fixed instant, so validation does not depend on today's date. Four years cover 29 February.
  if (cron.nextRun(new Date('2000-01-01T00:00:00Z')) === null) {
    throw invalid(expression, 'it never runs: no date matches its day-of-month and month fields');
  }
  return {
    expression: text,
    timezone: zone,
    hasSeconds,
    next: (after) => cron.nextRun(after),
    latestAtOrBefore: (at) => {
      // croner's previousRuns excludes a run at exactly the reference instant; one millisecond later includes it.
      const [latest] = cron.previousRuns(1, new Date(at.getTime() + 1));
      return latest ?? null;
    },
  };
}

/** The next `count` run times strictly after `from`. */
export function nextRuns(expression: string, timezone: string | undefined, from: Date, count: number): Date[] {
  const cron = parseCron(expression, timezone);
  const runs: Date[] = [];
  let cursor: Date | null = from;
  while (runs.length < count && (cursor = cron.next(cursor)) !== null) runs.push(cursor);
  return runs;
}

/**
 * A human reading, 24-hour clock: "At 02:00, every day". Falls back to the expression itself for forms cronstrue
 * does not read (croner's `+` day-of-week modifier).
 */
export function describeCron(expression: string): string {
  const text = normalise(expression);
  try {
    return cronstrue.toString(text, { use24HourTimeFormat: true, verbose: true, throwExceptionOnParseError: true });
  } catch {
    return text;
  }
}

/** `2026-03-29 03:00:00 +02:00`: a time as the schedule's zone sees it, with its offset, for logs and listings. */
export function formatInZone(date: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'longOffset',
  }).formatToParts(date);
  const get = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  const offset = get('timeZoneName').replace(/^GMT/, '') || '+00:00';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')} ${offset}`;
}
