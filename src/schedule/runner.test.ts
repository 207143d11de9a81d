import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupError, isBackupError } from '../errors.js';
import { backupLayout } from '../repository/layout.js';
import { ManualClock } from './clock.js';
import type { SchedulerEvent } from './events.js';
import { runDue, runNow, type RunBackup, type RunBackupContext, type SchedulerOptions } from './runner.js';
import { addSchedule, readSchedules, recordRun, scheduleFiles, updateSchedules, type ScheduleFiles } from './store.js';
import type { NewSchedule, Schedule } from './types.js';

let dir: string;
let files: ScheduleFiles;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mcp-schedule-runner-'));
  files = scheduleFiles(backupLayout(path.join(dir, 'backup')));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const CREATED = new Date('2026-05-01T10:00:00.000Z');
const FIRST_SLOT = '2026-05-02T02:00:00.000Z';
const nightly: NewSchedule = { expression: '0 2 * * *', timezone: 'UTC', backup: { type: 'full' }, retention: { keep: 3 } };

/** A promise the test resolves: holds a fake backup "in progress". */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

interface Harness {
  clock: ManualClock;
  lines: string[];
  events: SchedulerEvent[];
  calls: { schedule: Schedule; context: RunBackupContext }[];
  retention: string[];
  options: (overrides?: Partial<SchedulerOptions>) => SchedulerOptions;
}

function harness(start: string, runBackup?: RunBackup): Harness {
  const h: Harness = {
    clock: new ManualClock(start),
    lines: [],
    events: [],
    calls: [],
    retention: [],
    options: (overrides = {}) => ({
      files,
      clock: h.clock,
      log: (line, event) => {
        h.lines.push(line);
        h.events.push(event);
      },
      runBackup: async (schedule, context) => {
        h.calls.push({ schedule, context });
        if (runBackup) return runBackup(schedule, context);
        h.clock.advance(4_200);
        return { backupId: `backup-${h.calls.length}`, size: 3 * 1024 * 1024 };
      },
      applyRetention: (schedule) => {
        h.retention.push(schedule.id);
        return Promise.resolve({ removed: ['old-1'] });
      },
      ...overrides,
    }),
  };
  return h;
}

async function only(): Promise<Schedule> {
  const { schedules } = await readSchedules(files.file);
  expect(schedules).toHaveLength(1);
  return schedules[0]!;
}

describe('runDue', () => {
  it('runs a due schedule once, records the result, applies retention, and logs each event', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const h = harness(FIRST_SLOT);
    const report = await runDue(h.options());
    expect(report.runs).toMatchObject([{ scheduleId: schedule.id, result: 'success', trigger: 'schedule', backupId: 'backup-1', removed: ['old-1'] }]);
    expect(h.calls[0]!.context.slot?.toISOString()).toBe(FIRST_SLOT);
    expect(h.retention).toEqual([schedule.id]);
    expect((await only()).state).toEqual({
      coveredUntil: FIRST_SLOT,
      coveredFor: '0 2 * * * @ UTC',
      lastRunAt: FIRST_SLOT,
      lastResult: 'success',
      lastBackupId: 'backup-1',
      lastDurationMs: 4200,
      lastTrigger: 'schedule',
      nextRunAt: '2026-05-03T02:00:00.000Z',
    });
    expect(h.lines).toEqual([
      `2026-05-02T02:00:00.000Z schedule ${schedule.id} started: full backup (slot 2026-05-02 02:00:00 +00:00)`,
      `2026-05-02T02:00:04.200Z schedule ${schedule.id} succeeded: backup backup-1, 3.00 MiB, 4.2 s`,
      `2026-05-02T02:00:04.200Z schedule ${schedule.id} retention: removed 1 backup (old-1)`,
    ]);

    // The same slot is never run twice.
    expect((await runDue(h.options())).runs).toEqual([]);
    expect(h.calls).toHaveLength(1);
  });

  it('never runs a new schedule on creation; runs nothing before its slot', async () => {
    await addSchedule(files, { ...nightly, expression: '* * * * *' }, CREATED);
    const h = harness(CREATED.toISOString());
    expect((await runDue(h.options())).runs).toEqual([]);
    h.clock.set('2026-05-01T10:00:59.000Z');
    expect((await runDue(h.options())).runs).toEqual([]);
    h.clock.set('2026-05-01T10:01:00.000Z');
    expect((await runDue(h.options())).runs).toHaveLength(1);
  });

  it('a week of missed slots runs once, as a catch-up, and says how many were missed', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const h = harness('2026-05-08T09:00:00.000Z');
    const report = await runDue(h.options());
    expect(report.runs).toMatchObject([{ trigger: 'catch-up', slot: new Date('2026-05-08T02:00:00.000Z') }]);
    expect(h.lines[0]).toBe(
      `2026-05-08T09:00:00.000Z schedule ${schedule.id} missed its run at 2026-05-08 02:00:00 +00:00 (and 6 earlier slots): running it once now`,
    );
    expect((await runDue(h.options())).runs).toEqual([]);
    expect(h.calls).toHaveLength(1);
  });

  it('records a failure with its reason, and applies no retention', async () => {
    await addSchedule(files, nightly, CREATED);
    const h = harness(FIRST_SLOT, () => Promise.reject(new BackupError('HOOK_FAILED', 'pre_backup hook of git failed (exit 1)')));
    const report = await runDue(h.options());
    expect(report.runs).toMatchObject([{ result: 'failed', error: 'pre_backup hook of git failed (exit 1)' }]);
    expect(h.retention).toEqual([]);
    expect((await only()).state).toMatchObject({ lastResult: 'failed', lastError: 'pre_backup hook of git failed (exit 1)' });
    expect(h.lines.at(-1)).toMatch(/failed after 0 ms: pre_backup hook of git failed \(exit 1\)$/);
  });

  it('a scheduled incremental with no base takes a full backup and says so', async () => {
    await addSchedule(files, { ...nightly, backup: { type: 'incremental' } }, CREATED);
    const h = harness(FIRST_SLOT, (schedule) => {
      if (schedule.backup.type === 'incremental') return Promise.reject(new BackupError('NO_BASE', 'no base: run a full backup first'));
      return Promise.resolve({ backupId: 'full-1', size: 10 });
    });
    const report = await runDue(h.options());
    expect(h.calls.map((c) => c.schedule.backup.type)).toEqual(['incremental', 'full']);
    expect(report.runs).toMatchObject([{ result: 'success', note: 'no base for an incremental: took a full backup instead' }]);
    expect((await only()).state).toMatchObject({ lastNote: 'no base for an incremental: took a full backup instead', lastBackupId: 'full-1' });
    expect(h.lines.some((l) => l.endsWith('succeeded: backup full-1, 10 B, 0 ms; no base for an incremental: took a full backup instead'))).toBe(true);
  });

  it('keeps the engine note, and records a retention failure without failing the run', async () => {
    await addSchedule(files, nightly, CREATED);
    const h = harness(FIRST_SLOT, () => Promise.resolve({ backupId: 'b', size: 1, note: '2 files changed while read' }));
    const report = await runDue(
      h.options({
        applyRetention: () => Promise.reject(new Error('metadata.json is locked')),
      }),
    );
    expect(report.runs).toMatchObject([{ result: 'success', note: '2 files changed while read', error: 'retention failed: metadata.json is locked' }]);
    expect((await only()).state).toMatchObject({
      lastResult: 'success',
      lastNote: '2 files changed while read',
      lastError: 'retention failed: metadata.json is locked',
    });
  });

  it('runs a schedule without retention without calling applyRetention', async () => {
    await addSchedule(files, { ...nightly, retention: undefined }, CREATED);
    const h = harness(FIRST_SLOT);
    await runDue(h.options());
    expect(h.retention).toEqual([]);
  });

  it('reports a hand-edited invalid expression and runs the other schedules', async () => {
    await addSchedule(files, nightly, CREATED);
    await updateSchedules(files, (schedules) => ({
      schedules: [...schedules, { ...schedules[0]!, id: 'broken', expression: '0 25 * * *' }],
      result: undefined,
    }));
    const h = harness(FIRST_SLOT);
    const report = await runDue(h.options());
    expect(report.invalid).toEqual([{ scheduleId: 'broken', error: expect.stringMatching(/hour must be 0-23/) as string }]);
    expect(report.runs).toHaveLength(1);
  });

  it('an edited schedule does not fire at once: its new series starts when the edit is seen', async () => {
    await addSchedule(files, nightly, CREATED);
    await updateSchedules(files, (schedules) => ({ schedules: schedules.map((s) => ({ ...s, expression: '0 8 * * *' })), result: undefined }));
    const h = harness('2026-05-02T10:00:00.000Z');
    expect((await runDue(h.options())).runs).toEqual([]);
    expect((await only()).state).toMatchObject({ coveredUntil: '2026-05-02T10:00:00.000Z', coveredFor: '0 8 * * * @ UTC' });
    h.clock.set('2026-05-03T08:00:00.000Z');
    expect((await runDue(h.options())).runs).toHaveLength(1);
  });
});

describe('never two runs of one schedule', () => {
  it('a slot that comes while the previous run is still going is skipped, and the skip is recorded', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const hold = gate();
    const h = harness('2026-05-02T01:30:00.000Z', async () => {
      await hold.promise;
      return { backupId: 'long', size: 1 };
    });
    // A run by hand, still going at the slot.
    const manual = runNow(h.options(), schedule.id);
    await waitFor(async () => expect((await only()).state.running).toBeDefined());
    h.clock.set(FIRST_SLOT);
    const report = await runDue(h.options());
    expect(report.skipped).toEqual([{ scheduleId: schedule.id, slot: new Date(FIRST_SLOT) }]);
    expect(h.calls).toHaveLength(1);
    expect(h.lines.at(-1)).toBe(
      `${FIRST_SLOT} schedule ${schedule.id} skipped its run at 2026-05-02 02:00:00 +00:00: previous run still in progress`,
    );
    expect((await only()).state).toMatchObject({ lastResult: 'skipped', lastError: 'previous run still in progress' });

    hold.open();
    expect(await manual).toMatchObject({ result: 'success', trigger: 'manual' });
    const state = (await only()).state;
    expect(state).toMatchObject({
      lastResult: 'success',
      lastTrigger: 'manual',
      lastRunAt: '2026-05-02T01:30:00.000Z',
      lastSkip: { at: FIRST_SLOT, slot: FIRST_SLOT, reason: 'previous run still in progress' },
    });
    expect(state.running).toBeUndefined();
    expect(state.lastError).toBeUndefined();
  });

  it('two schedulers on one store run a due slot once (real locks)', async () => {
    await addSchedule(files, nightly, CREATED);
    const hold = gate();
    const h = harness(FIRST_SLOT, async () => {
      await hold.promise;
      return { backupId: 'one', size: 1 };
    });
    const passes = [runDue(h.options()), runDue(h.options())];
    await waitFor(() => expect(h.calls).toHaveLength(1));
    // Whichever lost the race finishes first, having found the slot taken: no run, and no skip either.
    expect(await Promise.race(passes)).toEqual({ runs: [], skipped: [], invalid: [] });
    hold.open();
    const reports = await Promise.all(passes);
    expect(reports.flatMap((r) => r.runs)).toHaveLength(1);
    expect(h.calls).toHaveLength(1);
    expect((await only()).state.lastResult).toBe('success');
  });

  it('runNow refuses while the schedule runs elsewhere', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const hold = gate();
    const h = harness(FIRST_SLOT, async () => {
      await hold.promise;
      return { backupId: 'one', size: 1 };
    });
    const running = runDue(h.options());
    await waitFor(() => expect(h.calls).toHaveLength(1));
    const error = await runNow(h.options(), schedule.id.slice(0, 6)).catch((e: unknown) => e);
    expect(isBackupError(error, 'LOCKED')).toBe(true);
    hold.open();
    await running;
  });
});

describe('runNow', () => {
  it('runs by id prefix outside the slots, applies retention, and leaves the slots alone', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const h = harness('2026-05-01T12:00:00.000Z');
    const outcome = await runNow(h.options(), schedule.id.slice(0, 7));
    expect(outcome).toMatchObject({ result: 'success', trigger: 'manual' });
    expect(h.calls[0]!.context.slot).toBeUndefined();
    expect(h.retention).toEqual([schedule.id]);
    expect((await only()).state.coveredUntil).toBeUndefined();
    expect(h.lines[0]).toMatch(/started: full backup \(run by hand\)$/);
  });

  it('records a failure, then throws it with its code', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const h = harness(FIRST_SLOT, () => Promise.reject(new BackupError('NO_SPACE', 'no space left')));
    const error = await runNow(h.options(), schedule.id).catch((e: unknown) => e);
    expect(isBackupError(error, 'NO_SPACE')).toBe(true);
    expect((await only()).state).toMatchObject({ lastResult: 'failed', lastError: 'no space left' });
  });

  it('an unknown id is SCHEDULE_NOT_FOUND', async () => {
    await addSchedule(files, nightly, CREATED);
    const error = await runNow(harness(FIRST_SLOT).options(), 'sch-nope').catch((e: unknown) => e);
    expect(isBackupError(error, 'SCHEDULE_NOT_FOUND')).toBe(true);
  });

  it('an aborted run is recorded as failed, aborted', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const controller = new AbortController();
    const h = harness(FIRST_SLOT, () => {
      controller.abort();
      return Promise.reject(new BackupError('ABORTED', 'backup aborted; nothing was listed'));
    });
    const error = await runNow(h.options(), schedule.id, { signal: controller.signal }).catch((e: unknown) => e);
    expect(isBackupError(error, 'ABORTED')).toBe(true);
    expect((await only()).state.lastError).toBe('aborted: the scheduler stopped before the backup finished (backup aborted; nothing was listed)');
  });
});

describe('edits while a run is going', () => {
  it('the result is recorded into the edited schedule, which keeps the edit', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const hold = gate();
    const h = harness(FIRST_SLOT, async () => {
      await hold.promise;
      return { backupId: 'b', size: 1 };
    });
    const run = runDue(h.options());
    await waitFor(() => expect(h.calls).toHaveLength(1));
    await updateSchedules(files, (schedules) => ({
      schedules: schedules.map((s) => ({ ...s, expression: '0 8 * * *', description: 'edited' })),
      result: undefined,
    }));
    hold.open();
    await run;
    const after = await only();
    expect(after).toMatchObject({ id: schedule.id, expression: '0 8 * * *', description: 'edited', state: { lastResult: 'success' } });
    // The edit is seen on the next pass: no immediate run of the new expression.
    h.clock.set('2026-05-02T09:00:00.000Z');
    expect((await runDue(h.options())).runs).toEqual([]);
  });

  it('a schedule deleted while it runs records nothing and does not come back', async () => {
    await addSchedule(files, nightly, CREATED);
    const hold = gate();
    const h = harness(FIRST_SLOT, async () => {
      await hold.promise;
      return { backupId: 'b', size: 1 };
    });
    const run = runDue(h.options());
    await waitFor(() => expect(h.calls).toHaveLength(1));
    await updateSchedules(files, () => ({ schedules: [], result: undefined }));
    hold.open();
    expect((await run).runs).toHaveLength(1);
    expect((await readSchedules(files.file)).schedules).toEqual([]);
  });
});

describe('interrupted runs', () => {
  it('a run whose process is gone is recorded as failed', async () => {
    const { schedule } = await addSchedule(files, nightly, CREATED);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(dead.stdout);
    await recordRun(files, schedule.id, (state) => ({
      ...state,
      coveredUntil: FIRST_SLOT,
      running: { since: FIRST_SLOT, trigger: 'schedule', slot: FIRST_SLOT, pid, host: os.hostname() },
    }));
    const h = harness('2026-05-02T05:00:00.000Z');
    await runDue(h.options());
    expect((await only()).state).toMatchObject({
      lastResult: 'failed',
      lastError: 'interrupted: the process running it stopped before it finished',
      lastRunAt: FIRST_SLOT,
    });
    expect((await only()).state.running).toBeUndefined();
    expect(h.lines).toEqual([
      `2026-05-02T05:00:00.000Z schedule ${schedule.id}: the run started at ${FIRST_SLOT} never finished (its process stopped); recorded as failed`,
    ]);
  });
});

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
