import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupError } from '../errors.js';
import { backupLayout } from '../repository/layout.js';
import { ManualClock } from './clock.js';
import { runDaemon, type DaemonOptions } from './daemon.js';
import type { RunBackup, RunBackupContext } from './runner.js';
import { addSchedule, readSchedules, recordRun, removeSchedule, scheduleFiles, updateSchedules, type ScheduleFiles } from './store.js';
import type { NewSchedule, Schedule } from './types.js';

let dir: string;
let files: ScheduleFiles;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mcp-schedule-daemon-'));
  files = scheduleFiles(backupLayout(path.join(dir, 'backup')));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const hourly: NewSchedule = { expression: '0 * * * *', timezone: 'UTC', backup: { type: 'full' }, retention: { keep: 5 } };

interface Daemon {
  clock: ManualClock;
  lines: string[];
  calls: { schedule: Schedule; context: RunBackupContext }[];
  retention: string[];
  stop: AbortController;
  done: Promise<void>;
  /** Waits until a log line matches. */
  sees: (pattern: RegExp, count?: number) => Promise<void>;
  /** Waits until the loop is asleep (one sleeper), then moves time on. */
  advanceTo: (iso: string) => Promise<void>;
}

function startDaemon(start: string, runBackup?: RunBackup, overrides: Partial<DaemonOptions> = {}, clock = new ManualClock(start)): Daemon {
  const stop = new AbortController();
  const d: Omit<Daemon, 'done'> = {
    clock,
    lines: [],
    calls: [],
    retention: [],
    stop,
    sees: (pattern, count = 1) =>
      waitFor(() => expect(d.lines.filter((l) => pattern.test(l)).length, d.lines.join('\n')).toBeGreaterThanOrEqual(count)),
    advanceTo: async (iso) => {
      await waitFor(() => expect(clock.sleepers).toBeGreaterThanOrEqual(1));
      clock.set(iso);
    },
  };
  const done = runDaemon(
    {
      files,
      clock,
      pollMs: 5_000,
      log: (line) => d.lines.push(line),
      runBackup: async (schedule, context) => {
        d.calls.push({ schedule, context });
        if (runBackup) return runBackup(schedule, context);
        return { backupId: `backup-${d.calls.length}`, size: 2048 };
      },
      applyRetention: (schedule) => {
        d.retention.push(schedule.id);
        return Promise.resolve({ removed: [] });
      },
      ...overrides,
    },
    stop.signal,
  );
  return { ...d, done };
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function stateOf(id: string): Promise<Schedule['state']> {
  const { schedules } = await readSchedules(files.file);
  const schedule = schedules.find((s) => s.id === id);
  if (!schedule) throw new Error(`no schedule ${id}`);
  return schedule.state;
}

describe('daemon', () => {
  it('catches up a missed run once at start-up, then runs on time', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const d = startDaemon('2026-05-01T15:20:00.000Z');
    await d.sees(/succeeded/);
    expect(d.lines.slice(0, 5)).toEqual([
      '2026-05-01T15:20:00.000Z daemon started (pid ' + process.pid + `): 1 schedule in ${files.file}`,
      `2026-05-01T15:20:00.000Z schedule ${schedule.id} "0 * * * *" (Every hour, every day): next run 2026-05-01 16:00:00 +00:00`,
      `2026-05-01T15:20:00.000Z schedule ${schedule.id} missed its run at 2026-05-01 15:00:00 +00:00 (and 4 earlier slots): running it once now`,
      `2026-05-01T15:20:00.000Z schedule ${schedule.id} started: full backup (slot 2026-05-01 15:00:00 +00:00)`,
      `2026-05-01T15:20:00.000Z schedule ${schedule.id} succeeded: backup backup-1, 2.00 KiB, 0 ms`,
    ]);
    expect(d.calls.map((c) => c.context.trigger)).toEqual(['catch-up']);
    await recorded(schedule.id);

    await d.advanceTo('2026-05-01T15:59:59.000Z');
    await d.advanceTo('2026-05-01T16:00:00.000Z');
    await d.sees(/succeeded/, 2);
    expect(d.calls.map((c) => c.context.trigger)).toEqual(['catch-up', 'schedule']);
    expect(d.calls[1]!.context.slot?.toISOString()).toBe('2026-05-01T16:00:00.000Z');
    expect(d.retention).toEqual([schedule.id, schedule.id]);

    d.stop.abort();
    await d.done;
    expect(d.lines.at(-1)).toBe('2026-05-01T16:00:00.000Z daemon stopped');
  });

  it('never sleeps past the next slot nor longer than pollMs', async () => {
    await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const d = startDaemon('2026-05-01T10:59:58.000Z');
    await waitFor(() => expect(d.clock.sleepers).toBe(1));
    expect(d.clock.nextWake?.toISOString()).toBe('2026-05-01T11:00:00.000Z');
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/succeeded/);
    await waitFor(() => expect(d.clock.sleepers).toBe(1));
    expect(d.clock.nextWake?.toISOString()).toBe('2026-05-01T11:00:05.000Z');
    d.stop.abort();
    await d.done;
  });

  it('notices schedules added, changed and deleted while it runs, without a restart', async () => {
    const d = startDaemon('2026-05-01T10:00:00.000Z');
    await d.sees(/daemon started/);

    const { schedule } = await addSchedule(files, hourly, d.clock.now());
    await d.advanceTo('2026-05-01T10:00:05.000Z');
    await d.sees(new RegExp(`schedule ${schedule.id} added: "0 \\* \\* \\* \\*" \\(Every hour, every day\\), next run 2026-05-01 11:00:00`));
    expect(d.calls).toEqual([]);

    await updateSchedules(files, (schedules) => ({ schedules: schedules.map((s) => ({ ...s, expression: '30 * * * *' })), result: undefined }));
    await d.advanceTo('2026-05-01T10:00:10.000Z');
    await d.sees(new RegExp(`schedule ${schedule.id} changed: "30 \\* \\* \\* \\*" .* next run 2026-05-01 10:30:00`));
    await d.advanceTo('2026-05-01T10:30:00.000Z');
    await d.sees(/succeeded/);
    expect(d.calls[0]!.context.slot?.toISOString()).toBe('2026-05-01T10:30:00.000Z');

    await removeSchedule(files, schedule.id);
    await d.advanceTo('2026-05-01T10:30:05.000Z');
    await d.sees(new RegExp(`schedule ${schedule.id} removed`));
    await d.advanceTo('2026-05-01T11:30:00.000Z');
    await d.advanceTo('2026-05-01T11:30:05.000Z');
    await waitFor(() => expect(d.clock.sleepers).toBe(1));
    expect(d.calls).toHaveLength(1);
    d.stop.abort();
    await d.done;
  });

  it('skips and records a slot that comes while the previous run is still going', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const hold = gate();
    const d = startDaemon('2026-05-01T10:59:00.000Z', async () => {
      await hold.promise;
      return { backupId: 'long', size: 1 };
    });
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/started: /);
    await d.advanceTo('2026-05-01T12:00:00.000Z');
    await d.sees(/skipped its run at 2026-05-01 12:00:00 \+00:00: previous run still in progress/);
    expect(await stateOf(schedule.id)).toMatchObject({ lastResult: 'skipped', coveredUntil: '2026-05-01T12:00:00.000Z' });
    expect(d.calls).toHaveLength(1);

    hold.open();
    await d.sees(/succeeded: backup long/);
    await recorded(schedule.id);
    expect(await stateOf(schedule.id)).toMatchObject({
      lastResult: 'success',
      lastSkip: { slot: '2026-05-01T12:00:00.000Z', reason: 'previous run still in progress' },
    });
    d.stop.abort();
    await d.done;
  });

  it('runs one backup at a time; a schedule due meanwhile runs after it', async () => {
    const created = new Date('2026-05-01T10:00:00.000Z');
    const a = (await addSchedule(files, hourly, created)).schedule;
    const b = (await addSchedule(files, { ...hourly, expression: '0 * * * *', backup: { type: 'incremental' } }, created)).schedule;
    const holds = [gate(), gate()];
    let running = 0;
    let most = 0;
    const d = startDaemon('2026-05-01T10:59:59.000Z', async () => {
      running++;
      most = Math.max(most, running);
      await holds[d.calls.length - 1]!.promise;
      running--;
      return { backupId: `b${d.calls.length}`, size: 1 };
    });
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/started: /);
    holds[0]!.open();
    await d.sees(/started: /, 2);
    holds[1]!.open();
    await d.sees(/succeeded/, 2);
    expect(most).toBe(1);
    expect(new Set(d.calls.map((c) => c.schedule.id))).toEqual(new Set([a.id, b.id]));
    d.stop.abort();
    await d.done;
  });

  it('two daemons on one store run each slot once', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const clock = new ManualClock('2026-05-01T10:59:59.000Z');
    const calls: string[] = [];
    const runBackup: RunBackup = async (s) => {
      calls.push(s.id);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { backupId: `b${calls.length}`, size: 1 };
    };
    const one = startDaemon('', runBackup, {}, clock);
    const two = startDaemon('', runBackup, {}, clock);
    await waitFor(() => expect(clock.sleepers).toBe(2));
    clock.set('2026-05-01T11:00:00.000Z');
    await waitFor(async () => expect((await stateOf(schedule.id)).lastResult).toBe('success'));
    await waitFor(() => expect(clock.sleepers).toBe(2));
    clock.set('2026-05-01T12:00:00.000Z');
    await waitFor(async () => expect((await stateOf(schedule.id)).lastRunAt).toBe('2026-05-01T12:00:00.000Z'));
    await waitFor(async () => expect((await stateOf(schedule.id)).lastResult).toBe('success'));
    expect(calls).toEqual([schedule.id, schedule.id]);
    expect([...one.lines, ...two.lines].filter((l) => /skipped/.test(l))).toEqual([]);
    one.stop.abort();
    two.stop.abort();
    await Promise.all([one.done, two.done]);
  });

  it('on stop, lets a running backup finish and exits', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const hold = gate();
    const d = startDaemon('2026-05-01T10:59:59.000Z', async () => {
      await hold.promise;
      return { backupId: 'finished', size: 1 };
    });
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/started: /);
    d.stop.abort();
    await d.sees(new RegExp(`stopping: no new runs; waiting up to 1m00s for ${schedule.id} to finish`));
    hold.open();
    await d.done;
    expect(d.lines.at(-1)).toMatch(/daemon stopped$/);
    expect(await stateOf(schedule.id)).toMatchObject({ lastResult: 'success', lastBackupId: 'finished' });
    expect((await stateOf(schedule.id)).running).toBeUndefined();
  });

  it('on stop, aborts a backup still running after the grace period, and records it', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const d = startDaemon(
      '2026-05-01T10:59:59.000Z',
      (_s, context) =>
        new Promise((_resolve, reject) => {
          context.signal.addEventListener('abort', () => reject(new BackupError('ABORTED', 'backup aborted; nothing was listed')));
        }),
      { graceMs: 30_000 },
    );
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/started: /);
    d.stop.abort();
    await d.sees(/stopping/);
    await d.advanceTo('2026-05-01T11:00:30.000Z');
    await d.done;
    expect(d.lines.slice(-4)).toEqual([
      `2026-05-01T11:00:00.000Z stopping: no new runs; waiting up to 30.0 s for ${schedule.id} to finish`,
      `2026-05-01T11:00:30.000Z schedule ${schedule.id} still running after 30.0 s: aborting it`,
      `2026-05-01T11:00:30.000Z schedule ${schedule.id} failed after 30.0 s: aborted: the scheduler stopped before the backup finished (backup aborted; nothing was listed)`,
      '2026-05-01T11:00:30.000Z daemon stopped',
    ]);
    expect(await stateOf(schedule.id)).toMatchObject({ lastResult: 'failed' });
    expect((await stateOf(schedule.id)).running).toBeUndefined();
  });

  it('gives up on a backup that ignores the abort, and records it as failed', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    const d = startDaemon('2026-05-01T10:59:59.000Z', () => new Promise(() => undefined), { graceMs: 1_000, abortWaitMs: 2_000 });
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/started: /);
    d.stop.abort();
    await d.advanceTo('2026-05-01T11:00:01.000Z');
    await d.sees(/aborting it/);
    await d.advanceTo('2026-05-01T11:00:03.000Z');
    await d.done;
    expect(d.lines.at(-2)).toMatch(/did not stop within 2\.0 s of the abort; recorded as failed$/);
    expect(await stateOf(schedule.id)).toMatchObject({ lastResult: 'failed' });
    expect((await stateOf(schedule.id)).running).toBeUndefined();
  });

  it('keeps going when schedules.json is unreadable, says so once, and resumes when it is fixed', async () => {
    const { schedule } = await addSchedule(files, hourly, new Date('2026-05-01T10:00:00.000Z'));
    await recordRun(files, schedule.id, (state) => ({ ...state, coveredUntil: '2026-05-01T10:00:00.000Z' }));
    const good = await fs.readFile(files.file, 'utf8');
    await fs.writeFile(files.file, '{ not json');
    const d = startDaemon('2026-05-01T10:30:00.000Z');
    await d.sees(/cannot read the schedules: .* is corrupt/);
    await d.advanceTo('2026-05-01T10:30:05.000Z');
    await d.advanceTo('2026-05-01T10:30:10.000Z');
    await waitFor(() => expect(d.clock.sleepers).toBe(1));
    expect(d.lines.filter((l) => /cannot read/.test(l))).toHaveLength(1);
    await fs.writeFile(files.file, good);
    await d.advanceTo('2026-05-01T11:00:00.000Z');
    await d.sees(/succeeded/);
    d.stop.abort();
    await d.done;
  });
});

describe('daemon on the system clock', () => {
  it('runs a 6-field every-second schedule in real time, and stops promptly on abort', async () => {
    const { schedule } = await addSchedule(files, { ...hourly, expression: '* * * * * *' });
    const lines: string[] = [];
    const stop = new AbortController();
    const done = runDaemon(
      { files, log: (line) => lines.push(line), runBackup: () => Promise.resolve({ backupId: 'b', size: 1 }) },
      stop.signal,
    );
    await waitFor(() => expect(lines.filter((l) => l.includes('succeeded')).length).toBeGreaterThanOrEqual(2), 10_000);
    const stoppedAt = Date.now();
    stop.abort();
    await done;
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    expect(lines.at(-1)).toMatch(/daemon stopped$/);
    const slots = lines.filter((l) => l.includes('started: full')).map((l) => /slot (\S+ \S+)/.exec(l)?.[1]);
    expect(new Set(slots).size).toBe(slots.length);
    expect((await stateOf(schedule.id)).lastResult).toBe('success');
  });
});

/** Waits until the schedule's last run is recorded (it no longer shows as running). */
async function recorded(id: string): Promise<void> {
  await waitFor(async () => {
    const state = await stateOf(id);
    expect(state.running).toBeUndefined();
    expect(state.lastResult).toBeDefined();
  });
}

async function waitFor(check: () => unknown, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
