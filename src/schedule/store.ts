/**
 * schedules.json: `{ "schemaVersion": 1, "schedules": [...] }`.
 *
 * Reads never write; a missing file is an empty list. Every write is a read-modify-write under the lock shared with
 * metadata.json (`updateSchedules`), atomic (safe-write), so a crash leaves the previous or the new file, and two
 * processes (a daemon, `schedule run-due` from system cron, a user adding a schedule) never lose each other's
 * changes. A file that does not parse or does not validate is refused and left as it is, never overwritten; a
 * newer schema version is refused; an older one is migrated on the first write, after a copy of the old file is
 * kept beside it (`schedules.json.v<N>.bak`).
 *
 * Version 0 is a file without `schemaVersion`: a bare list of schedules, or `{ "schedules": [...] }`, as a person
 * might write by hand.
 *
 * Expressions are not re-validated here: one hand-edited schedule with a bad expression must not stop the others.
 * The scheduler reports it (CRON_INVALID) and goes on.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BackupError, errnoCode } from '../errors.js';
import { ensurePrivateDir, FILE_MODE, writeFileSafely } from '../fsutil/safe-write.js';
import { withLock } from '../lock/lock.js';
import { BACKUP_TYPES, type BackupType } from '../metadata/record.js';
import type { BackupLayout } from '../repository/layout.js';
import { describeCron, nextRuns, parseCron } from './cron.js';
import { computeDue, scheduleFingerprint } from './due.js';
import type { NewSchedule, Schedule, ScheduleState } from './types.js';

export const SCHEDULES_SCHEMA_VERSION = 1;

/** Where the schedules live and which lock serialises their writes. */
export interface ScheduleFiles {
  /** schedules.json. */
  file: string;
  /** The backup directory's lock (shared with metadata.json). */
  lockPath: string;
  /** Folder of the per-schedule run locks (`<id>/run.lease`): a run in progress holds its schedule's. */
  runLocks: string;
}

export function scheduleFiles(layout: Pick<BackupLayout, 'root' | 'schedules' | 'indexLock'>): ScheduleFiles {
  // Not under temp/: the sweep of temp/ removes anything it does not recognise as a live workspace.
  return { file: layout.schedules, lockPath: layout.indexLock, runLocks: path.join(layout.root, '.schedule-runs') };
}

const isoTime = z.iso.datetime({ offset: true });
const runTrigger = z.enum(['schedule', 'catch-up', 'manual']);

const stateSchema = z.object({
  coveredUntil: isoTime.optional(),
  coveredFor: z.string().optional(),
  lastRunAt: isoTime.optional(),
  lastResult: z.enum(['success', 'failed', 'skipped']).optional(),
  lastError: z.string().optional(),
  lastBackupId: z.string().optional(),
  lastNote: z.string().optional(),
  lastDurationMs: z.number().nonnegative().optional(),
  lastTrigger: runTrigger.optional(),
  lastSkip: z.object({ at: isoTime, slot: isoTime, reason: z.string() }).optional(),
  running: z
    .object({ since: isoTime, trigger: runTrigger, slot: isoTime.optional(), pid: z.number().int(), host: z.string() })
    .optional(),
  nextRunAt: isoTime.optional(),
});

const scheduleSchema = z.object({
  // Also a folder name (the run lock): no separators, no leading dot.
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'an id is letters, digits, ".", "_" and "-"'),
  expression: z.string().min(1),
  timezone: z.string().min(1),
  createdAt: isoTime,
  description: z.string().optional(),
  backup: z.object({
    type: z.enum(BACKUP_TYPES as [BackupType, ...BackupType[]]),
    services: z.array(z.string().min(1)).optional(),
    includeLogs: z.boolean().default(false),
    volumes: z.boolean().default(true),
    compress: z.boolean().default(true),
    compressionLevel: z.number().int().min(1).max(9).optional(),
    encrypt: z.boolean().default(false),
    recipients: z.array(z.string().min(1)).optional(),
  }),
  retention: z
    .object({ keep: z.number().int().nonnegative().optional(), days: z.number().int().nonnegative().optional() })
    .optional(),
  state: stateSchema.default({}),
});

// The schema and the documented type must describe the same thing.
const _sameShape: z.ZodType<Schedule, unknown> = scheduleSchema;
void _sameShape;

const fileSchema = z.object({ schemaVersion: z.literal(SCHEDULES_SCHEMA_VERSION), schedules: z.array(scheduleSchema) });

export interface LoadedSchedules {
  schedules: Schedule[];
  /** The version found on disk; 0 for a file without one, and for no file. */
  schemaVersion: number;
  /** False when there was no file. */
  exists: boolean;
}

function corrupt(file: string, why: string): BackupError {
  return new BackupError(
    'INDEX_CORRUPT',
    `${file} is corrupt (${why}); it was left as it is: fix it by hand, or move it away and create the schedules again`,
    { file },
  );
}

/** zod's readable report, on one line. */
function oneLine(error: z.ZodError): string {
  return z
    .prettifyError(error)
    .replace(/^\u2716 /, '') // ✖ (escaped: the CLI bundle is ASCII, see scripts/bundle.mjs)
    .replace(/\n\s*\u2192 at /g, ' at ') // →
    .replace(/\n\u2716 /g, '; ')
    .replace(/\n/g, ' ');
}

/** Upgrades a document of version N to N+1; MIGRATIONS[N]. */
const MIGRATIONS: ReadonlyArray<(doc: Record<string, unknown>) => Record<string, unknown>> = [
  (doc) => ({ schemaVersion: 1, schedules: doc.schedules ?? [] }),
];

export function parseSchedulesFile(text: string, file: string): { schedules: Schedule[]; schemaVersion: number } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, (error as Error).message);
  }
  let doc: Record<string, unknown>;
  if (Array.isArray(value)) doc = { schedules: value };
  else if (value !== null && typeof value === 'object') doc = value as Record<string, unknown>;
  else throw corrupt(file, 'expected an object with schemaVersion and schedules');

  const found = doc.schemaVersion ?? 0;
  if (typeof found !== 'number' || !Number.isInteger(found) || found < 0) {
    throw corrupt(file, `schemaVersion ${JSON.stringify(found)} is not a version number`);
  }
  if (found > SCHEDULES_SCHEMA_VERSION) {
    throw new BackupError(
      'INDEX_TOO_NEW',
      `${file} has schema version ${found}, newer than this mcp backup knows (${SCHEDULES_SCHEMA_VERSION}): upgrade mcp backup`,
      { file, schemaVersion: found },
    );
  }
  for (let version = found; version < SCHEDULES_SCHEMA_VERSION; version++) doc = MIGRATIONS[version]!(doc);
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) throw corrupt(file, oneLine(parsed.error));
  const ids = new Set<string>();
  for (const schedule of parsed.data.schedules) {
    if (ids.has(schedule.id)) throw corrupt(file, `two schedules have the id ${schedule.id}`);
    ids.add(schedule.id);
  }
  return { schedules: parsed.data.schedules, schemaVersion: found };
}

export async function readSchedules(file: string): Promise<LoadedSchedules> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { schedules: [], schemaVersion: 0, exists: false };
    throw new BackupError('IO', `cannot read ${file}: ${(error as Error).message}`, { file });
  }
  return { ...parseSchedulesFile(text, file), exists: true };
}

export function serializeSchedules(schedules: readonly Schedule[]): string {
  const sorted = [...schedules].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return `${JSON.stringify({ schemaVersion: SCHEDULES_SCHEMA_VERSION, schedules: sorted }, null, 2)}\n`;
}

/** Keeps a copy of the file before a migration; an existing copy is never overwritten. */
async function keepCopy(file: string, copy: string): Promise<void> {
  try {
    await fs.copyFile(file, copy, fs.constants.COPYFILE_EXCL);
    await fs.chmod(copy, FILE_MODE);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
  }
}

export type ScheduleMutation<T> =
  | { schedules?: Schedule[]; result: T }
  | Promise<{ schedules?: Schedule[]; result: T }>;

/**
 * Read-modify-write of schedules.json under the lock. `mutate` gets the current schedules (its own copy) and
 * returns the new list, or no list to leave the file untouched. Resolves once the new file is durable.
 */
export async function updateSchedules<T>(
  files: ScheduleFiles,
  mutate: (schedules: Schedule[]) => ScheduleMutation<T>,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  await ensurePrivateDir(path.dirname(files.file));
  return withLock(files.lockPath, { what: 'the schedules file', ...options }, async () => {
    const current = await readSchedules(files.file);
    const { schedules, result } = await mutate(structuredClone(current.schedules));
    if (schedules) {
      if (current.exists && current.schemaVersion < SCHEDULES_SCHEMA_VERSION) {
        await keepCopy(files.file, `${files.file}.v${current.schemaVersion}.bak`);
      }
      await writeFileSafely(files.file, serializeSchedules(schedules));
    }
    return result;
  });
}

/** Finds the schedule whose id is `query` or starts with it. */
export function resolveScheduleId(schedules: readonly Schedule[], query: string): Schedule {
  const trimmed = query.trim();
  if (trimmed === '') throw new BackupError('USAGE', 'the schedule id is empty: pass an id from `mcp backup schedule list`');
  const exact = schedules.find((s) => s.id === trimmed);
  if (exact) return exact;
  const matches = schedules.filter((s) => s.id.startsWith(trimmed));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new BackupError(
      'SCHEDULE_NOT_FOUND',
      `no schedule with id ${trimmed}: see \`mcp backup schedule list\` for the ids`,
      { id: trimmed },
    );
  }
  throw new BackupError(
    'AMBIGUOUS_ID',
    `schedule id ${trimmed} is ambiguous: it matches ${matches.map((s) => s.id).join(', ')}; give more characters`,
    { id: trimmed, candidates: matches.map((s) => s.id) },
  );
}

function newScheduleId(taken: ReadonlySet<string>): string {
  for (;;) {
    const id = `sch-${randomBytes(4).toString('hex')}`;
    if (!taken.has(id)) return id;
  }
}

function usage(message: string, details: Record<string, unknown> = {}): BackupError {
  return new BackupError('USAGE', message, details);
}

function checkCount(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min)) {
    throw usage(`${name} must be a whole number of at least ${min} (got ${value})`);
  }
}

/** Validates what the user asked for and fills in the defaults; the expression must already be valid. */
function buildSchedule(input: NewSchedule, id: string, timezone: string, expression: string, now: Date): Schedule {
  const b = input.backup;
  if (!(BACKUP_TYPES as readonly string[]).includes(b.type)) {
    throw usage(`unknown backup type "${String(b.type)}": use ${BACKUP_TYPES.join(', ')}`);
  }
  const services = b.services?.map((s) => s.trim()).filter((s) => s !== '');
  if (b.type === 'service' && (services === undefined || services.length === 0)) {
    throw usage('a service backup needs --services: name the services to back up');
  }
  const compress = b.compress ?? true;
  checkCount('--compression-level', b.compressionLevel, 1);
  if (b.compressionLevel !== undefined && b.compressionLevel > 9) {
    throw usage(`--compression-level must be 1-9 (got ${b.compressionLevel})`);
  }
  if (b.compressionLevel !== undefined && !compress) throw usage('--compression-level has no meaning with --no-compress');
  const recipients = b.recipients?.map((r) => r.trim()).filter((r) => r !== '');
  for (const recipient of recipients ?? []) {
    // A schedule is stored in clear; a secret key there would be a secret on disk.
    if (/^AGE-SECRET-KEY-/i.test(recipient)) {
      throw usage('a schedule encrypts to public keys (age1...), never to a secret key: pass the recipient\'s public key');
    }
  }
  checkCount('--keep', input.retention?.keep, 0);
  checkCount('--days', input.retention?.days, 0);

  const schedule: Schedule = {
    id,
    expression,
    timezone,
    createdAt: now.toISOString(),
    backup: {
      type: b.type,
      includeLogs: b.includeLogs ?? false,
      volumes: b.volumes ?? true,
      compress,
      encrypt: b.encrypt ?? (recipients !== undefined && recipients.length > 0),
    },
    state: { coveredFor: scheduleFingerprint({ expression, timezone }) },
  };
  if (input.description !== undefined && input.description.trim() !== '') schedule.description = input.description.trim();
  if (services !== undefined && services.length > 0) schedule.backup.services = [...new Set(services)];
  if (b.compressionLevel !== undefined) schedule.backup.compressionLevel = b.compressionLevel;
  if (recipients !== undefined && recipients.length > 0) schedule.backup.recipients = recipients;
  const keep = input.retention?.keep;
  const days = input.retention?.days;
  if (keep !== undefined || days !== undefined) {
    schedule.retention = {};
    if (keep !== undefined) schedule.retention.keep = keep;
    if (days !== undefined) schedule.retention.days = days;
  }
  return schedule;
}

export interface AddedSchedule {
  schedule: Schedule;
  /** "At 02:00, every day". */
  reading: string;
  /** The next three run times. */
  nextRuns: Date[];
}

/**
 * Validates and stores a new schedule. An invalid expression (CRON_INVALID), timezone or option (USAGE) is refused
 * before the file is touched. Service names are not checked here: the caller knows the platform.
 */
export async function addSchedule(files: ScheduleFiles, input: NewSchedule, now: Date = new Date()): Promise<AddedSchedule> {
  const cron = parseCron(input.expression, input.timezone);
  const draft = buildSchedule(input, 'sch-00000000', cron.timezone, cron.expression, now);
  const schedule = await updateSchedules(files, (schedules) => {
    const added = { ...draft, id: newScheduleId(new Set(schedules.map((s) => s.id))) };
    return { schedules: [...schedules, added], result: added };
  });
  return { schedule, reading: describeCron(schedule.expression), nextRuns: nextRuns(schedule.expression, schedule.timezone, now, 3) };
}

/** Removes a schedule by id or unique prefix; returns it. A run in progress finishes, and records nothing. */
export async function removeSchedule(files: ScheduleFiles, idOrPrefix: string): Promise<Schedule> {
  const removed = await updateSchedules(files, (schedules) => {
    const target = resolveScheduleId(schedules, idOrPrefix);
    return { schedules: schedules.filter((s) => s.id !== target.id), result: target };
  });
  // Its run-lock folder; a lock still held (a run in progress) is left to its holder.
  await fs.rmdir(path.join(files.runLocks, removed.id)).catch(() => undefined);
  return removed;
}

/** One line of `schedule list`. */
export interface ScheduleView {
  schedule: Schedule;
  /** "At 02:00, every day" (the expression itself if it has no reading). */
  reading: string;
  /** The next run; in the past when a run is overdue (no scheduler has run since). Null if none is left. */
  nextRunAt: Date | null;
  /** A slot has passed without a run: the next scheduler pass runs it. */
  overdue: boolean;
  /** Set when the expression or timezone is invalid (a hand-edited file): the schedule never runs. */
  invalid?: string;
}

export function viewSchedule(schedule: Schedule, now: Date): ScheduleView {
  const reading = describeCron(schedule.expression);
  try {
    const due = computeDue(schedule, now);
    if (due.status === 'due') return { schedule, reading, nextRunAt: due.slot, overdue: true };
    return { schedule, reading, nextRunAt: due.nextRunAt, overdue: false };
  } catch (error) {
    return { schedule, reading, nextRunAt: null, overdue: false, invalid: (error as Error).message };
  }
}

/** Every schedule, oldest first, with its reading and next run. Reads only. */
export async function listSchedules(files: ScheduleFiles, now: Date = new Date()): Promise<ScheduleView[]> {
  const { schedules } = await readSchedules(files.file);
  return serializeOrder(schedules).map((schedule) => viewSchedule(schedule, now));
}

function serializeOrder(schedules: Schedule[]): Schedule[] {
  return schedules.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * Changes one schedule's state under the lock: `change` gets the current state (a copy) and returns the new one,
 * or undefined to leave the file as it is. Returns the updated schedule, or undefined when the schedule is gone
 * (deleted while it ran): a result for a deleted schedule is dropped.
 */
export async function recordRun(
  files: ScheduleFiles,
  id: string,
  change: (state: ScheduleState, schedule: Schedule) => ScheduleState | undefined | Promise<ScheduleState | undefined>,
): Promise<Schedule | undefined> {
  return updateSchedules(files, async (schedules) => {
    const schedule = schedules.find((s) => s.id === id);
    if (!schedule) return { result: undefined };
    const state = await change(structuredClone(schedule.state), schedule);
    if (state === undefined) return { result: schedule };
    schedule.state = state;
    return { schedules, result: schedule };
  });
}
