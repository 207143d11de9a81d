/**
 * `mcp backup daemon`: runs in the foreground and executes schedules when due, until its signal aborts.
 *
 *   at start-up: log the schedules; a slot missed while no scheduler ran is due at once (run once, logged)
 *   each tick:
 *     re-read schedules.json when it changed (stat: inode, mtime, size), and at least every minute;
 *       log schedules added, changed and removed
 *     record as failed the runs of dead holders (interrupted)
 *     for each schedule: due?  running here -> record the slot skipped;  else queue it
 *     start queued runs up to `maxConcurrent` (default 1: one backup at a time, in slot order)
 *     sleep until the next slot, a run's end, or `pollMs` (default 5 s: edits are noticed within it)
 *   on abort: start nothing more; wait up to `graceMs` for running backups, then abort them through their signal
 *     and wait up to `abortWaitMs` more; a backup that still has not stopped is recorded as failed; then resolve.
 *
 * Every decision about a slot is made again under the store lock when the run starts (runner.ts), so several
 * daemons and `schedule run-due` on one platform never run a slot twice.
 */
import { promises as fs } from 'node:fs';
import { describeCron } from './cron.js';
import type { DueDecision } from './due.js';
import { ScheduleRunner, type SchedulerOptions } from './runner.js';
import { readSchedules } from './store.js';
import type { Schedule } from './types.js';

export interface DaemonOptions extends SchedulerOptions {
  /** Longest sleep between two looks at schedules.json. Default 5 s; at most 60 s. */
  pollMs?: number;
  /** Backups run at once by this daemon. Default 1. */
  maxConcurrent?: number;
  /** After the stop signal, how long a running backup may take to finish before it is aborted. Default 60 s. */
  graceMs?: number;
  /** After aborting, how long to wait for the backup to stop. Default 15 s (60 + 15 stays under systemd's 90 s). */
  abortWaitMs?: number;
}

interface ActiveRun {
  controller: AbortController;
  done: Promise<void>;
}

const MAX_POLL_MS = 60_000;
const FULL_REREAD_MS = 60_000;

/** What a schedule looks like to the change detector: anything a user can edit. */
function fingerprint(schedule: Schedule): string {
  const { state: _state, ...rest } = schedule;
  return JSON.stringify(rest);
}

/** Re-reads schedules.json only when it changed, or after a while (a clock or file system that lies about mtime). */
class ScheduleSource {
  #key?: string;
  #readAt = 0;
  #schedules: Schedule[] = [];
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
  }

  async load(nowMs: number): Promise<Schedule[]> {
    const stat = await fs.stat(this.#file).catch(() => undefined);
    const key = stat ? `${stat.ino}:${stat.mtimeMs}:${stat.size}` : 'missing';
    if (key !== this.#key || nowMs - this.#readAt >= FULL_REREAD_MS || nowMs < this.#readAt) {
      this.#schedules = (await readSchedules(this.#file)).schedules;
      this.#key = key;
      this.#readAt = nowMs;
    }
    return this.#schedules;
  }
}

/** Runs until `signal` aborts, then stops cleanly and resolves. Throws only for a programming error. */
export async function runDaemon(options: DaemonOptions, signal: AbortSignal): Promise<void> {
  const runner = new ScheduleRunner(options);
  const { clock } = runner;
  const pollMs = Math.min(Math.max(options.pollMs ?? 5_000, 10), MAX_POLL_MS);
  const maxConcurrent = Math.max(1, options.maxConcurrent ?? 1);
  const graceMs = options.graceMs ?? 60_000;
  const abortWaitMs = options.abortWaitMs ?? 15_000;

  const source = new ScheduleSource(runner.files.file);
  const active = new Map<string, ActiveRun>();
  const queue: string[] = [];
  let known: Map<string, string> | undefined;
  const reportedInvalid = new Map<string, string>();
  let lastStoreError: string | undefined;
  let wake = new AbortController();

  const start = (id: string): void => {
    const controller = new AbortController();
    const done = runner
      .attemptSlot(id, controller.signal)
      .then(() => undefined)
      .catch((error: unknown) => {
        // Recording failed (schedules.json unwritable, lock timeout): the run's own events said what they could.
        runner.emit({ kind: 'run-failed', at: clock.now(), scheduleId: id, error: (error as Error).message, durationMs: 0 });
      })
      .finally(() => {
        active.delete(id);
        wake.abort();
      });
    active.set(id, { controller, done });
  };

  const noticeChanges = (schedules: Schedule[], now: Date, decisions: Map<string, DueDecision>): void => {
    const current = new Map(schedules.map((s) => [s.id, fingerprint(s)]));
    const describe = (s: Schedule) => {
      const d = decisions.get(s.id);
      // For a due schedule, the run after the one about to start (the start itself gets its own line).
      return { scheduleId: s.id, expression: s.expression, reading: describeCron(s.expression), nextRunAt: d?.nextRunAt ?? null, timezone: s.timezone };
    };
    if (known === undefined) {
      runner.emit({ kind: 'daemon-started', at: now, schedules: schedules.length, file: runner.files.file, pid: process.pid });
      for (const s of schedules) if (decisions.has(s.id)) runner.emit({ kind: 'schedule-loaded', at: now, ...describe(s) });
    } else {
      // An invalid schedule was reported as such already.
      for (const s of schedules.filter((schedule) => decisions.has(schedule.id))) {
        const before = known.get(s.id);
        if (before === undefined) runner.emit({ kind: 'schedule-added', at: now, ...describe(s) });
        else if (before !== current.get(s.id)) runner.emit({ kind: 'schedule-changed', at: now, ...describe(s) });
      }
      for (const id of known.keys()) if (!current.has(id)) runner.emit({ kind: 'schedule-removed', at: now, scheduleId: id });
    }
    known = current;
  };

  const tick = async (): Promise<number> => {
    const now = clock.now();
    let schedules: Schedule[];
    try {
      schedules = await source.load(now.getTime());
      lastStoreError = undefined;
    } catch (error) {
      const text = (error as Error).message;
      // Once per distinct problem, not once per tick.
      if (text !== lastStoreError) runner.emit({ kind: 'store-error', at: now, error: text, retryInMs: pollMs });
      lastStoreError = text;
      if (known === undefined) {
        known = new Map();
        runner.emit({ kind: 'daemon-started', at: now, schedules: 0, file: runner.files.file, pid: process.pid });
      }
      return pollMs;
    }

    const decisions = new Map<string, DueDecision>();
    for (const schedule of schedules) {
      try {
        decisions.set(schedule.id, runner.due(schedule, now));
        reportedInvalid.delete(schedule.id);
      } catch (error) {
        const text = (error as Error).message;
        if (reportedInvalid.get(schedule.id) !== text) {
          runner.emit({ kind: 'schedule-invalid', at: now, scheduleId: schedule.id, error: text });
        }
        reportedInvalid.set(schedule.id, text);
      }
    }
    noticeChanges(schedules, now, decisions);

    for (const schedule of schedules) {
      if (signal.aborted) break;
      await runner.checkInterrupted(schedule);
      const decision = decisions.get(schedule.id);
      if (decision?.status === 'changed') await runner.recordChange(schedule);
      if (decision?.status !== 'due') continue;
      // Running here already: this slot overlaps the run and is recorded as skipped.
      if (active.has(schedule.id)) await runner.recordOverlap(schedule.id);
      else if (!queue.includes(schedule.id)) queue.push(schedule.id);
    }
    const dueIds = new Set(schedules.filter((s) => decisions.get(s.id)?.status === 'due').map((s) => s.id));
    // A queued schedule deleted, or run by another scheduler meanwhile, leaves the queue.
    for (let i = queue.length - 1; i >= 0; i--) if (!dueIds.has(queue[i]!)) queue.splice(i, 1);
    while (!signal.aborted && active.size < maxConcurrent && queue.length > 0) start(queue.shift()!);

    let sleepMs = pollMs;
    for (const decision of decisions.values()) {
      if (decision.nextRunAt) sleepMs = Math.min(sleepMs, decision.nextRunAt.getTime() - now.getTime());
    }
    return Math.max(sleepMs, 0);
  };

  while (!signal.aborted) {
    // Made before the tick, so a run that ends during the tick still cuts the next sleep short. (One controller
    // linked by hand rather than AbortSignal.any: a composite per tick on the long-lived stop signal would pile up.)
    const sleepController = new AbortController();
    wake = sleepController;
    const onStop = (): void => sleepController.abort();
    signal.addEventListener('abort', onStop, { once: true });
    try {
      let sleepMs: number;
      try {
        sleepMs = await tick();
      } catch (error) {
        // A write failed (lock timeout, disk): say so and try again later, rather than stop scheduling.
        runner.emit({ kind: 'store-error', at: clock.now(), error: (error as Error).message, retryInMs: pollMs });
        sleepMs = pollMs;
      }
      if (!signal.aborted) await clock.sleep(sleepMs, sleepController.signal);
    } finally {
      signal.removeEventListener('abort', onStop);
    }
  }

  await stop(runner, active, graceMs, abortWaitMs);
}

async function stop(runner: ScheduleRunner, active: Map<string, ActiveRun>, graceMs: number, abortWaitMs: number): Promise<void> {
  const { clock } = runner;
  runner.emit({ kind: 'stopping', at: clock.now(), running: [...active.keys()], graceMs });
  const waitAll = async (ms: number): Promise<boolean> => {
    if (active.size === 0) return true;
    const settled = new AbortController();
    const all = Promise.all([...active.values()].map((run) => run.done)).then(() => settled.abort());
    await Promise.race([all, clock.sleep(ms, settled.signal)]);
    settled.abort();
    return active.size === 0;
  };
  if (!(await waitAll(graceMs))) {
    for (const [id, run] of active) {
      runner.emit({ kind: 'run-aborting', at: clock.now(), scheduleId: id, afterMs: graceMs });
      run.controller.abort();
    }
    if (!(await waitAll(abortWaitMs))) {
      for (const id of active.keys()) {
        runner.emit({ kind: 'run-abandoned', at: clock.now(), scheduleId: id, afterMs: abortWaitMs });
        await runner.recordAbandoned(id, abortWaitMs).catch(() => undefined);
      }
    }
  }
  runner.emit({ kind: 'stopped', at: clock.now() });
}
