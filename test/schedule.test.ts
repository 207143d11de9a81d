/**
 * Schedules end to end: the real CLI stores, lists, runs and deletes them; the real daemon runs them when due,
 * records the result, stops cleanly on SIGTERM, and never runs a slot twice with two daemons on one platform.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, mcpOn, spawnMcp } from './helpers/cli.js';
import { makePlatform } from './helpers/platform.js';
import type { BackupRecord } from '../src/index.js';

interface ListedSchedule {
  id: string;
  expression: string;
  reading: string;
  timezone: string;
  backup: { type: string; services?: string[] };
  retention?: { keep?: number; days?: number };
  nextRunAt: string | null;
  state: { lastResult?: string; lastBackupId?: string; lastNote?: string; lastError?: string };
}

function schedulesFile(root: string): string {
  return path.join(root, 'backup/schedules.json');
}

function waitFor<T>(check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const value = check();
      if (value !== undefined) return resolve(value);
      if (Date.now() > deadline) return reject(new Error('timed out'));
      setTimeout(tick, 100);
    };
    tick();
  });
}

describe('schedule', () => {
  it('stores a schedule, prints its id, reading and next three runs, and lists it', () => {
    const root = makePlatform();
    const run = mcpOn(root, ['schedule', '0 2 * * *', '--type', 'full', '--compress', '--keep', '5', '--days', '14', '--timezone', 'Europe/Berlin']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Created schedule sch-[0-9a-f]{8}: "0 2 \* \* \*" — At 02:00, every day \(Europe\/Berlin\)/);
    expect(run.stdout.match(/\d{4}-\d\d-\d\d 02:00:00 \+0[12]:00/g)).toHaveLength(3);
    expect(fs.statSync(schedulesFile(root)).mode & 0o777).toBe(0o600);

    const [listed] = json<ListedSchedule[]>(mcpOn(root, ['schedule', 'list', '--json']));
    expect(listed).toMatchObject({ expression: '0 2 * * *', reading: 'At 02:00, every day', timezone: 'Europe/Berlin', backup: { type: 'full' }, retention: { keep: 5, days: 14 } });
    expect(Date.parse(listed!.nextRunAt!)).toBeGreaterThan(Date.now());
    const human = mcpOn(root, ['schedule', 'list']).stdout;
    expect(human).toContain(listed!.id);
    expect(human).toContain('keep 5, 14d');
    expect(human).toContain('never');

    const deleted = mcpOn(root, ['schedule', 'delete', listed!.id.slice(0, 7)]);
    expect(deleted.code).toBe(0);
    expect(json<ListedSchedule[]>(mcpOn(root, ['schedule', 'list', '--json']))).toEqual([]);
  });

  it.each([
    [['schedule', '0 25 * * *', '--type', 'full'], 2, 'invalid cron expression "0 25 * * *": hour must be 0-23 (got 25)'],
    [['schedule', '61 * * * *', '--type', 'full'], 2, 'minute'],
    [['schedule', '0 2 * * *', '--type', 'full', '--timezone', 'Mars/Olympus'], 2, 'Mars/Olympus'],
    [['schedule', '0 2 * * *', '--type', 'service', '--services', 'nope'], 2, 'unknown service nope'],
    [['schedule', '0 2 * * *', '--type', 'full', '--encrypt'], 2, 'a schedule cannot encrypt with a passphrase'],
    [['schedule', '0 2 * * *'], 2, 'a schedule needs --type'],
    [['schedule', 'delete', 'sch-nope'], 1, 'sch-nope'],
  ])('refuses %j with a one-line error and leaves schedules.json unchanged', (args, code, message) => {
    const root = makePlatform();
    mcpOn(root, ['schedule', '@daily', '--type', 'full']);
    const before = fs.readFileSync(schedulesFile(root), 'utf8');
    const run = mcpOn(root, args);
    expect(run.code).toBe(code);
    expect(run.stderr).toContain(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readFileSync(schedulesFile(root), 'utf8')).toBe(before);
  });

  it('a new schedule does not run at once; run-due runs a due one once; run ID runs it now', async () => {
    const root = makePlatform();
    const created = json<ListedSchedule>(mcpOn(root, ['schedule', '@daily', '--type', 'full', '--json']));
    expect(mcpOn(root, ['schedule', 'run-due']).stdout).toContain('Nothing was due.');

    const every = json<ListedSchedule>(mcpOn(root, ['schedule', '* * * * * *', '--type', 'service', '--services', 'git', '--json']));
    await new Promise((r) => setTimeout(r, 1500));
    const due = mcpOn(root, ['schedule', 'run-due']);
    expect(due.code, due.stderr).toBe(0);
    expect(due.stdout).toMatch(new RegExp(`schedule ${every.id} succeeded: backup \\S+-service-`));
    const backups = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    expect(backups).toHaveLength(1);
    expect(backups[0]!.origin).toEqual({ kind: 'schedule', scheduleId: every.id });

    const now = mcpOn(root, ['schedule', 'run', created.id, '--json']);
    expect(now.code, now.stderr).toBe(0);
    const byHand = json<BackupRecord[]>(mcpOn(root, ['list', '--json', '--type', 'full']));
    expect(byHand[0]!.origin).toEqual({ kind: 'schedule', scheduleId: created.id });
    const listed = json<ListedSchedule[]>(mcpOn(root, ['schedule', 'list', '--json'])).find((s) => s.id === created.id)!;
    expect(listed.state).toMatchObject({ lastResult: 'success', lastBackupId: byHand[0]!.id });
  });

  it('the daemon runs a schedule when due, records it, and stops cleanly on SIGTERM; a second daemon never doubles a run', async () => {
    const root = makePlatform();
    const schedule = json<ListedSchedule>(mcpOn(root, ['schedule', '*/2 * * * * *', '--type', 'incremental', '--json']));
    const daemons = [spawnMcp(['--platform', root, 'daemon']), spawnMcp(['--platform', root, 'daemon'])];
    const outputs = daemons.map((d) => {
      const out = { text: '' };
      d.stdout.on('data', (c: Buffer) => (out.text += c.toString()));
      d.stderr.on('data', (c: Buffer) => (out.text += c.toString()));
      return out;
    });
    try {
      const incrementals = () => outputs.map((o) => o.text).join('').match(/succeeded: backup \S+-incremental-/g)?.length ?? 0;
      await waitFor(() => (incrementals() >= 2 ? true : undefined), 30_000);
    } finally {
      for (const d of daemons) d.kill('SIGTERM');
    }
    const codes = await Promise.all(daemons.map((d) => new Promise<number | null>((r) => d.on('close', r))));
    expect(codes).toEqual([0, 0]);
    const all = outputs.map((o) => o.text).join('');
    expect(all).toContain('daemon stopped');
    // The first run had no base: it took a full backup and said so.
    expect(all).toContain('no base for an incremental: took a full backup instead');
    // Each slot ran once across both daemons.
    const slots = [...all.matchAll(/started: \w+ backup \(slot ([^)]+)\)/g)].map((m) => m[1]);
    expect(new Set(slots).size).toBe(slots.length);

    const backups = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    expect(backups.length).toBe(slots.length);
    expect(backups.every((b) => b.origin.kind === 'schedule')).toBe(true);
    expect(mcpOn(root, ['verify', '--all']).code).toBe(0);
    const state = json<ListedSchedule[]>(mcpOn(root, ['schedule', 'list', '--json']))[0]!.state;
    expect(state.lastResult).toBe('success');
    expect(backups.map((b) => b.id)).toContain(state.lastBackupId);
    expect(schedule.id).toBe(json<ListedSchedule[]>(mcpOn(root, ['schedule', 'list', '--json']))[0]!.id);
    expect(fs.readdirSync(path.join(root, 'backup/temp'))).toEqual([]);
  });
});
