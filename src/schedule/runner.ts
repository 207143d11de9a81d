/**
 * Running one schedule, safely among several schedulers (daemons, `schedule run-due` from system cron, `schedule
 * run ID`) on one platform. The backup itself is injected (`runBackup`), as is retention (`applyRetention`).
 *
 * A run:
 *   1. takes the schedule's run lock (`<backup>/.schedule-runs/<id>/run.lease`, held and refreshed for the whole
 *      run; a killed holder's lock goes stale in seconds). Busy -> see below.
 *   2. under the store lock, re-reads the schedule and claims its slot: checks it is still due (another scheduler
 *      may have just run it), records coveredUntil = slot and `running`. From here no one else runs that slot.
 *   3. runs the backup; a scheduled incremental with no base (NO_BASE) is retried as a full backup, and says so.
 *   4. after a success, applies the schedule's retention.
 *   5. under the store lock, records the result (lastRunAt, lastResult, lastError, lastBackupId, lastNote) and
 *      clears `running`; then releases the run lock.
 *
 * Lock busy while a slot is due: under the store lock, if the slot is already covered, another scheduler is running
 * it (nothing to do); if the schedule records a run in progress, that earlier run is still going, and this slot is
 * recorded as skipped ("previous run still in progress"); if neither, the holder is between steps 1 and 2: retry.
 *
 * A `running` record whose holder is gone (its process ended on this host, or its lock went stale) is an
 * interrupted run: recorded as failed, so `schedule list` does not show it running forever.
 */
import os from 'node:os';
import path from 'node:path';
import { BackupError, isBackupError } from '../errors.js';
import { ensurePrivateDir } from '../fsutil/safe-write.js';
import { acquireLock, isLeaseAlive, type HeldLock } from '../lock/lock.js';
import { systemClock, type Clock } from './clock.js';
import { computeDue, scheduleFingerprint, type DueDecision } from './due.js';
import { formatEvent, type SchedulerEvent, type SchedulerLog } from './events.js';
import { readSchedules, recordRun, resolveScheduleId, type ScheduleFiles } from './store.js';
import type { RunTrigger, Schedule, ScheduleState } from './types.js';

export interface RunBackupContext {
  /** Aborted when the scheduler stops and the grace period is over: stop, clean up, list nothing, and reject. */
  signal: AbortSignal;
  trigger: RunTrigger;
  /** The slot this run is for; absent for a run by hand. */
  slot?: Date;
}

export interface RunBackupResult {
  backupId: string;
  /** Bytes of the archive. */
  size: number;
  /** Defaults to the time runBackup took, by the scheduler's clock. */
  durationMs?: number;
  /** Logged and recorded with the result, e.g. a fallback the engine took. */
  note?: string;
}

/**
 * Takes the backup a schedule describes (`schedule.backup`), recording `{ kind: 'schedule', scheduleId }` as its
 * origin. Rejects on failure; a BackupError('NO_BASE') for an incremental makes the scheduler take a full backup.
 */
export type RunBackup = (schedule: Schedule, context: RunBackupContext) => Promise<RunBackupResult>;

export interface RetentionOutcome {
  /** Ids of the backups removed. */
  removed: string[];
}

/** Applies `schedule.retention` to that schedule's own backups; called only after a successful run. */
export type ApplyRetention = (schedule: Schedule, context: { signal: AbortSignal }) => Promise<RetentionOutcome | void>;

export interface SchedulerOptions {
  files: ScheduleFiles;
  runBackup: RunBackup;
  /** Default: none (no retention is applied). */
  applyRetention?: ApplyRetention;
  /** Default: the system clock. */
  clock?: Clock;
  /** One call per event; default: nothing. */
  log?: SchedulerLog;
  /** A slot this much older than now runs as a catch-up (logged as missed). Default 60 s. */
  lateAfterMs?: number;
}

export interface RunOutcome {
  scheduleId: string;
  trigger: RunTrigger;
  slot?: Date;
  result: 'success' | 'failed';
  backupId?: string;
  size?: number;
  durationMs: number;
  note?: string;
  /** Why the run failed (result failed), or what failed in its retention (result success). */
  error?: string;
  /** The error a failed run threw. */
  cause?: unknown;
  removed?: string[];
}

export type AttemptResult =
  | { status: 'ran'; outcome: RunOutcome }
  /** The slot was no longer due when claimed (another scheduler ran it), or the schedule is gone. */
  | { status: 'not-due' }
  | { status: 'skipped'; slot: Date }
  /** Another scheduler holds the run lock and has not claimed yet, after several tries. */
  | { status: 'busy' };

const NO_BASE_NOTE = 'no base for an incremental: took a full backup instead';
const SKIP_REASON = 'previous run still in progress';
const BUSY_RETRIES = 20;
const BUSY_RETRY_MS = 100;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The machinery shared by `runDue`, `runNow` and the daemon. */
export class ScheduleRunner {
  readonly files: ScheduleFiles;
  readonly clock: Clock;
  readonly #options: SchedulerOptions;
  readonly #log: SchedulerLog;
  /** Schedules this process is running now: never evaluated for interruption, never started twice. */
  readonly active = new Set<string>();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.files = options.files;
    this.clock = options.clock ?? systemClock;
    this.#log = options.log ?? (() => undefined);
  }

  emit(event: SchedulerEvent): void {
    this.#log(formatEvent(event), event);
  }

  due(schedule: Schedule, now: Date): DueDecision {
    return computeDue(schedule, now, { lateAfterMs: this.#options.lateAfterMs ?? 60_000 });
  }

  #runLockDir(id: string): string {
    return path.join(this.files.runLocks, id, 'run');
  }

  async #lockRun(id: string): Promise<HeldLock | undefined> {
    await ensurePrivateDir(path.join(this.files.runLocks, id));
    try {
      // isLeaseAlive(dir) reads `<dir>.lease`: the lock path follows that convention.
      return await acquireLock(`${this.#runLockDir(id)}.lease`, { what: `schedule ${id}`, timeoutMs: 0 });
    } catch (error) {
      if (isBackupError(error, 'LOCKED')) return undefined;
      throw error;
    }
  }

  /**
   * On this host the holder's pid decides: a process busy enough to miss a lock refresh is still alive (and a pid
   * reused after a reboot only delays the "interrupted" record: the next run replaces `running` anyway). From
   * another host, only the freshness of the run lock can tell.
   */
  async #holderAlive(running: NonNullable<ScheduleState['running']>, id: string): Promise<boolean> {
    if (running.host === os.hostname()) return !processGone(running.pid);
    return isLeaseAlive(this.#runLockDir(id));
  }

  /** Records as failed a `running` record whose holder is gone. */
  async checkInterrupted(schedule: Schedule): Promise<void> {
    const running = schedule.state.running;
    if (!running || this.active.has(schedule.id) || (await this.#holderAlive(running, schedule.id))) return;
    let marked = false;
    await recordRun(this.files, schedule.id, async (state) => {
      // Checked again under the lock: the holder clears `running` (under this lock) before releasing its run lock.
      const current = state.running;
      if (!current || current.since !== running.since || current.pid !== running.pid) return undefined;
      if (await this.#holderAlive(current, schedule.id)) return undefined;
      marked = true;
      const { running: _gone, ...rest } = state;
      return {
        ...rest,
        lastRunAt: current.since,
        lastResult: 'failed',
        lastError: 'interrupted: the process running it stopped before it finished',
        lastTrigger: current.trigger,
      };
    });
    if (marked) this.emit({ kind: 'run-interrupted', at: this.clock.now(), scheduleId: schedule.id, since: running.since });
  }

  /** An edited schedule: its old slots are passed over from now on, so it does not fire at once. */
  async recordChange(schedule: Schedule): Promise<void> {
    const now = this.clock.now();
    await recordRun(this.files, schedule.id, (state, current) => {
      if (this.due(current, now).status !== 'changed') return undefined;
      return { ...state, coveredUntil: now.toISOString(), coveredFor: scheduleFingerprint(current) };
    });
  }

  /** Runs the schedule's due slot, or records it skipped when an earlier run still holds the schedule. */
  async attemptSlot(id: string, signal: AbortSignal): Promise<AttemptResult> {
    for (let attempt = 0; attempt < BUSY_RETRIES; attempt++) {
      const lock = await this.#lockRun(id);
      if (lock) return this.#runLocked(id, lock, 'slot', signal);
      const busy = await this.#recordBusy(id);
      if (busy !== 'retry') return busy;
      await realDelay(BUSY_RETRY_MS);
    }
    return { status: 'busy' };
  }

  /** Runs the schedule now, outside its slots (`schedule run ID`). */
  async attemptManual(id: string, signal: AbortSignal): Promise<AttemptResult> {
    const lock = await this.#lockRun(id);
    if (!lock) return { status: 'busy' };
    return this.#runLocked(id, lock, 'manual', signal);
  }

  /** A slot came while this process still runs the schedule's previous one: record it skipped. */
  async recordOverlap(id: string): Promise<void> {
    await this.#recordBusy(id);
  }

  async #recordBusy(id: string): Promise<AttemptResult | 'retry'> {
    const now = this.clock.now();
    let outcome: AttemptResult | 'retry' = { status: 'not-due' };
    let timezone = 'UTC';
    await recordRun(this.files, id, (state, schedule) => {
      const due = this.due(schedule, now);
      if (due.status !== 'due') return undefined;
      if (!state.running) {
        outcome = 'retry';
        return undefined;
      }
      outcome = { status: 'skipped', slot: due.slot };
      timezone = schedule.timezone;
      return {
        ...state,
        coveredUntil: due.slot.toISOString(),
        coveredFor: scheduleFingerprint(schedule),
        lastRunAt: now.toISOString(),
        lastResult: 'skipped',
        lastError: SKIP_REASON,
        lastTrigger: 'schedule',
        lastSkip: { at: now.toISOString(), slot: due.slot.toISOString(), reason: SKIP_REASON },
        ...(due.nextRunAt && { nextRunAt: due.nextRunAt.toISOString() }),
      };
    });
    const result = outcome as AttemptResult | 'retry';
    if (result !== 'retry' && result.status === 'skipped') {
      this.emit({ kind: 'run-skipped', at: now, scheduleId: id, slot: result.slot, reason: SKIP_REASON, timezone });
    }
    return result;
  }

  async #runLocked(id: string, lock: HeldLock, mode: 'slot' | 'manual', signal: AbortSignal): Promise<AttemptResult> {
    try {
      const startedAt = this.clock.now();
      let claimed: { schedule: Schedule; trigger: RunTrigger; decision?: Extract<DueDecision, { status: 'due' }> } | undefined;
      let changed: Schedule | undefined;
      await recordRun(this.files, id, (state, schedule) => {
        let decision: Extract<DueDecision, { status: 'due' }> | undefined;
        if (mode === 'slot') {
          const due = this.due(schedule, startedAt);
          if (due.status === 'changed') changed = schedule;
          if (due.status !== 'due') return undefined;
          decision = due;
        }
        const trigger: RunTrigger = mode === 'manual' ? 'manual' : decision!.late ? 'catch-up' : 'schedule';
        const next: ScheduleState = {
          ...state,
          running: {
            since: startedAt.toISOString(),
            trigger,
            ...(decision && { slot: decision.slot.toISOString() }),
            pid: process.pid,
            host: os.hostname(),
          },
        };
        if (decision) {
          next.coveredUntil = decision.slot.toISOString();
          next.coveredFor = scheduleFingerprint(schedule);
        }
        claimed = { schedule: { ...schedule, state: next }, trigger, ...(decision && { decision }) };
        return next;
      });
      if (changed) await this.recordChange(changed);
      if (!claimed) return { status: 'not-due' };
      this.active.add(id);
      try {
        return { status: 'ran', outcome: await this.#execute(claimed.schedule, claimed.trigger, startedAt, signal, claimed.decision) };
      } finally {
        this.active.delete(id);
      }
    } finally {
      await lock.release();
    }
  }

  async #execute(
    schedule: Schedule,
    trigger: RunTrigger,
    startedAt: Date,
    signal: AbortSignal,
    decision?: Extract<DueDecision, { status: 'due' }>,
  ): Promise<RunOutcome> {
    const id = schedule.id;
    const tz = schedule.timezone;
    if (decision?.late) {
      this.emit({
        kind: 'catch-up',
        at: startedAt,
        scheduleId: id,
        slot: decision.slot,
        missedSlots: decision.missedSlots,
        missedCapped: decision.missedCapped,
        timezone: tz,
      });
    }
    this.emit({
      kind: 'run-started',
      at: startedAt,
      scheduleId: id,
      trigger,
      ...(decision && { slot: decision.slot }),
      type: schedule.backup.type,
      timezone: tz,
    });
    const context: RunBackupContext = { signal, trigger, ...(decision && { slot: decision.slot }) };
    const outcome: RunOutcome = { scheduleId: id, trigger, result: 'failed', durationMs: 0, ...(decision && { slot: decision.slot }) };
    try {
      let result: RunBackupResult;
      let fallbackNote: string | undefined;
      try {
        result = await this.#options.runBackup(schedule, context);
      } catch (error) {
        if (schedule.backup.type !== 'incremental' || !isBackupError(error, 'NO_BASE') || signal.aborted) throw error;
        fallbackNote = NO_BASE_NOTE;
        this.emit({ kind: 'run-fallback', at: this.clock.now(), scheduleId: id, reason: NO_BASE_NOTE });
        result = await this.#options.runBackup({ ...schedule, backup: { ...schedule.backup, type: 'full' } }, context);
      }
      const note = [fallbackNote, result.note].filter((n): n is string => n !== undefined && n !== '').join('; ');
      outcome.result = 'success';
      outcome.backupId = result.backupId;
      outcome.size = result.size;
      outcome.durationMs = result.durationMs ?? this.clock.now().getTime() - startedAt.getTime();
      if (note !== '') outcome.note = note;
      this.emit({
        kind: 'run-succeeded',
        at: this.clock.now(),
        scheduleId: id,
        backupId: result.backupId,
        size: result.size,
        durationMs: outcome.durationMs,
        ...(note !== '' && { note }),
      });
    } catch (error) {
      outcome.durationMs = this.clock.now().getTime() - startedAt.getTime();
      outcome.error = signal.aborted
        ? `aborted: the scheduler stopped before the backup finished (${message(error)})`
        : message(error);
      outcome.cause = error;
      this.emit({ kind: 'run-failed', at: this.clock.now(), scheduleId: id, error: outcome.error, durationMs: outcome.durationMs });
    }

    if (outcome.result === 'success' && schedule.retention && this.#options.applyRetention) {
      try {
        const applied = await this.#options.applyRetention(schedule, { signal });
        outcome.removed = applied?.removed ?? [];
        this.emit({ kind: 'retention-applied', at: this.clock.now(), scheduleId: id, removed: outcome.removed });
      } catch (error) {
        outcome.error = `retention failed: ${message(error)}`;
        this.emit({ kind: 'retention-failed', at: this.clock.now(), scheduleId: id, error: message(error) });
      }
    }

    await this.#recordOutcome(schedule, startedAt, outcome);
    return outcome;
  }

  async #recordOutcome(schedule: Schedule, startedAt: Date, outcome: RunOutcome): Promise<void> {
    const since = startedAt.toISOString();
    const now = this.clock.now();
    await recordRun(this.files, schedule.id, (state, current) => {
      const { running, lastError: _e, lastNote: _n, ...rest } = state;
      // Another scheduler's record (it judged this run interrupted) is replaced: this run did finish.
      void running;
      const next: ScheduleState = {
        ...rest,
        lastRunAt: since,
        lastResult: outcome.result,
        lastDurationMs: outcome.durationMs,
        lastTrigger: outcome.trigger,
      };
      if (outcome.backupId !== undefined) next.lastBackupId = outcome.backupId;
      if (outcome.error !== undefined) next.lastError = outcome.error;
      if (outcome.note !== undefined) next.lastNote = outcome.note;
      try {
        const due = this.due(current, now);
        const nextRunAt = due.status === 'due' ? due.slot : due.nextRunAt;
        if (nextRunAt) next.nextRunAt = nextRunAt.toISOString();
        else delete next.nextRunAt;
      } catch {
        delete next.nextRunAt;
      }
      return next;
    });
  }

  /** Marks a run this process gave up waiting for (the daemon stopping): the record must not say "running". */
  async recordAbandoned(id: string, afterMs: number): Promise<void> {
    await recordRun(this.files, id, (state) => {
      if (!state.running || state.running.pid !== process.pid) return undefined;
      const { running, ...rest } = state;
      return {
        ...rest,
        lastRunAt: running.since,
        lastResult: 'failed',
        lastError: `aborted: the scheduler stopped and the backup did not stop within ${Math.round(afterMs / 1000)} s of being asked to`,
        lastTrigger: running.trigger,
      };
    });
  }
}

export interface RunDueReport {
  /** Runs that took place, in order. */
  runs: RunOutcome[];
  /** Slots recorded as skipped because an earlier run of the same schedule was still going. */
  skipped: { scheduleId: string; slot: Date }[];
  /** Schedules that cannot run (invalid expression or timezone in a hand-edited file). */
  invalid: { scheduleId: string; error: string }[];
}

/**
 * One pass, for `schedule run-due` (system cron, a systemd timer): runs every due schedule once, one after the
 * other in slot order, and returns. A failed run is recorded and reported, not thrown; an unreadable schedules.json
 * is thrown.
 */
export async function runDue(options: SchedulerOptions, context: { signal?: AbortSignal } = {}): Promise<RunDueReport> {
  const runner = new ScheduleRunner(options);
  const signal = context.signal ?? new AbortController().signal;
  const { schedules } = await readSchedules(runner.files.file);
  const report: RunDueReport = { runs: [], skipped: [], invalid: [] };
  const now = runner.clock.now();
  const due: { id: string; slot: Date }[] = [];
  for (const schedule of schedules) {
    await runner.checkInterrupted(schedule);
    let decision: DueDecision;
    try {
      decision = runner.due(schedule, now);
    } catch (error) {
      report.invalid.push({ scheduleId: schedule.id, error: message(error) });
      runner.emit({ kind: 'schedule-invalid', at: now, scheduleId: schedule.id, error: message(error) });
      continue;
    }
    if (decision.status === 'changed') await runner.recordChange(schedule);
    if (decision.status === 'due') due.push({ id: schedule.id, slot: decision.slot });
  }
  due.sort((a, b) => a.slot.getTime() - b.slot.getTime() || a.id.localeCompare(b.id));
  for (const { id } of due) {
    if (signal.aborted) break;
    const attempt = await runner.attemptSlot(id, signal);
    if (attempt.status === 'ran') report.runs.push(attempt.outcome);
    if (attempt.status === 'skipped') report.skipped.push({ scheduleId: id, slot: attempt.slot });
  }
  return report;
}

/**
 * Runs one schedule now (`schedule run ID`, id or unique prefix), whatever its slots; its retention follows a
 * success. Its slots are unaffected. A run of it already in progress is LOCKED; a failed run is recorded, then
 * thrown (a BackupError keeps its code).
 */
export async function runNow(options: SchedulerOptions, idOrPrefix: string, context: { signal?: AbortSignal } = {}): Promise<RunOutcome> {
  const runner = new ScheduleRunner(options);
  const { schedules } = await readSchedules(runner.files.file);
  const schedule = resolveScheduleId(schedules, idOrPrefix);
  const attempt = await runner.attemptManual(schedule.id, context.signal ?? new AbortController().signal);
  if (attempt.status === 'busy') {
    throw new BackupError('LOCKED', `schedule ${schedule.id} is already running: try again when that run has finished`, {
      scheduleId: schedule.id,
    });
  }
  if (attempt.status !== 'ran') {
    throw new BackupError('SCHEDULE_NOT_FOUND', `schedule ${schedule.id} was deleted`, { id: schedule.id });
  }
  const { outcome } = attempt;
  if (outcome.result === 'failed') {
    if (outcome.cause instanceof BackupError) throw outcome.cause;
    throw new BackupError('IO', `schedule ${schedule.id} failed: ${outcome.error ?? 'unknown error'}`, { scheduleId: schedule.id }, { cause: outcome.cause });
  }
  return outcome;
}
