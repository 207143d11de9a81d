/**
 * `mcp backup cleanup` end to end: exactly the backups the policy removes go, with their archives; chains and the
 * last way back stay; a dry run changes nothing; a schedule's retention touches only that schedule's backups.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, mcpOn, type CliRun } from './helpers/cli.js';
import { ago, archiveFiles, backupAt, DAY, filesOf, HOUR, idsOf, readIndexFile, smallPlatform, touch, writeIndexFile } from './helpers/backups.js';
import { snapshotTree } from './helpers/tree.js';
import { applyRetention, openPlatform, type BackupRecord, type CleanupResult } from '../src/index.js';

function ok(run: CliRun): CliRun {
  expect(run.code, run.stderr).toBe(0);
  return run;
}

function listed(root: string): BackupRecord[] {
  return json<BackupRecord[]>(ok(mcpOn(root, ['list', '--json'])));
}

/** N full backups, one an hour, the newest an hour ago; oldest first. */
async function hourly(root: string, n: number): Promise<BackupRecord[]> {
  const records: BackupRecord[] = [];
  for (let i = n; i >= 1; i--) records.push(await backupAt(root, ago(i * HOUR)));
  return records;
}

describe('cleanup', () => {
  it('12 backups, then --keep 5: exactly the 5 newest stay, with their archives', async () => {
    const root = smallPlatform();
    const all = await hourly(root, 12);
    const result = json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--keep', '5', '--json'])));
    const newest = all.slice(-5);
    expect(result.dryRun).toBe(false);
    expect(result.policy).toEqual({ keep: 5, days: 30 });
    expect(result.removed.sort()).toEqual(all.slice(0, 7).map((r) => r.id).sort());
    expect(result.kept.sort()).toEqual(newest.map((r) => r.id).sort());
    expect(result.freedBytes).toBe(all.slice(0, 7).reduce((n, r) => n + r.size, 0));
    expect(idsOf(listed(root))).toEqual(newest.map((r) => r.id));
    expect(archiveFiles(root)).toEqual(filesOf(newest));
    expect(readIndexFile(root).pendingRemoval).toBeUndefined();
    ok(mcpOn(root, ['verify', '--all']));
    // Applying the same policy again removes nothing more.
    expect(json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--keep', '5', '--json']))).removed).toEqual([]);
  });

  it('a chain survives --keep 1 --days 0, and what nothing needs goes', async () => {
    const root = smallPlatform();
    const old = await backupAt(root, ago(3 * DAY));
    const base = await backupAt(root, ago(2 * DAY));
    touch(root);
    const i1 = await backupAt(root, ago(DAY), { type: 'incremental' });
    touch(root);
    const i2 = await backupAt(root, ago(HOUR), { type: 'incremental' });
    expect(i2.parent).toBe(i1.id);
    expect(i1.parent).toBe(base.id);
    const run = ok(mcpOn(root, ['cleanup', '--keep', '1', '--days', '0']));
    expect(run.stdout).toMatch(new RegExp(`${i2.id} .*keep .*newest restorable backup of scope kv,notes \\(config\\+volumes\\+platform\\.yaml\\): never removed`));
    expect(run.stdout).toMatch(new RegExp(`${i1.id} .*keep .*base of kept incremental ${i2.id}`));
    expect(run.stdout).toMatch(new RegExp(`${base.id} .*keep .*base of kept incremental ${i1.id}`));
    expect(run.stdout).toMatch(new RegExp(`${old.id} .*remove .*not the newest \\(it is the 4th\\); created before now \\(days is 0\\)`));
    expect(run.stdout).toContain('Removed 1 backup');
    expect(idsOf(listed(root))).toEqual([base.id, i1.id, i2.id]);
    expect(archiveFiles(root)).toEqual(filesOf([base, i1, i2]));
    ok(mcpOn(root, ['verify', '--all']));
  });

  it('--days removes what is older, but never the last way back', async () => {
    const root = smallPlatform();
    const [a, b] = [await backupAt(root, ago(40 * DAY)), await backupAt(root, ago(35 * DAY))];
    const service = await backupAt(root, ago(50 * DAY), { type: 'service', services: ['kv'] });
    const result = json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--json'])));
    // b is the newest full (every service); the kv service backup is the newest of its own scope.
    expect(result.removed).toEqual([a.id]);
    expect(result.decisions.find((d) => d.id === b.id)?.reasons).toEqual([
      'older than 30 days',
      'newest restorable backup of scope kv,notes (config+volumes+platform.yaml): never removed',
    ]);
    expect(result.decisions.find((d) => d.id === service.id)?.action).toBe('keep');
  });

  it('--dry-run shows each decision and why, and changes nothing at all', async () => {
    const root = smallPlatform();
    const all = await hourly(root, 4);
    // A leftover of a killed command: a real cleanup would sweep it, a dry run leaves it.
    fs.mkdirSync(path.join(root, 'backup/temp/create-999999-dead'), { recursive: true });
    const before = snapshotTree(root, { mtimes: true });
    const human = ok(mcpOn(root, ['cleanup', '--keep', '2', '--dry-run']));
    for (const r of all.slice(2)) expect(human.stdout).toMatch(new RegExp(`${r.id} .* keep .*among the 2 newest; younger than 30 days`));
    expect(human.stdout).toMatch(new RegExp(`${all[1]!.id} .* would remove .*not among the 2 newest \\(it is the 3rd\\)`));
    expect(human.stdout).toContain('Dry run: would remove 2 backups');
    expect(human.stdout).toContain('Nothing was changed.');
    const result = json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--keep', '2', '--dry-run', '--json'])));
    expect(Object.keys(result).sort()).toEqual(['decisions', 'dryRun', 'finishedFiles', 'freedBytes', 'kept', 'policy', 'removed', 'warnings']);
    expect(result.dryRun).toBe(true);
    expect(result.decisions.map((d) => d.id)).toEqual(all.map((r) => r.id).reverse());
    expect(result.decisions[3]).toEqual({
      id: all[0]!.id,
      type: 'full',
      createdAt: all[0]!.createdAt,
      size: all[0]!.size,
      origin: { kind: 'manual' },
      action: 'remove',
      reasons: ['not among the 2 newest (it is the 4th)'],
    });
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
    // The real run sweeps temp/.
    ok(mcpOn(root, ['cleanup', '--keep', '2']));
    expect(fs.readdirSync(path.join(root, 'backup/temp'))).toEqual([]);
  });

  it('takes its defaults from platform.yaml backup.retention', async () => {
    const root = smallPlatform('backup:\n  retention: { keep: 3, days: 365 }\n');
    const all = await hourly(root, 5);
    const result = json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--dry-run', '--json'])));
    expect(result.policy).toEqual({ keep: 3, days: 365 });
    expect(result.removed.sort()).toEqual(all.slice(0, 2).map((r) => r.id).sort());
    // An option overrides the file, member by member.
    expect(json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--dry-run', '--json', '--keep', '4']))).policy).toEqual({ keep: 4, days: 365 });
  });

  it('refuses bad values as usage errors, changing nothing', async () => {
    const root = smallPlatform();
    await hourly(root, 1);
    const before = snapshotTree(root, { mtimes: true });
    for (const args of [['--keep', '-1'], ['--keep', 'five'], ['--days', '1.5']]) {
      const run = mcpOn(root, ['cleanup', ...args]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/--(keep|days) must be a whole number/);
    }
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
  });

  it('with no backups, says so and creates nothing', () => {
    const root = smallPlatform();
    const run = ok(mcpOn(root, ['cleanup']));
    expect(run.stdout).toContain('Nothing to remove');
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
  });

  it('finishes a removal a killed command left pending, and never deletes a file that is not its own', async () => {
    const root = smallPlatform();
    const [a, b, c] = await hourly(root, 3);
    const index = readIndexFile(root);
    // As a removal killed after its index write leaves it: a's record gone, its files named as pending.
    index.backups = index.backups.filter((r) => r.id !== a!.id);
    index.pendingRemoval = [a!.archive, a!.manifest, 'someone-elses-file.txt'];
    // A record edited by hand to name another backup's manifest copy.
    index.backups = index.backups.map((r) => (r.id === b!.id ? { ...r, manifest: c!.manifest } : r));
    writeIndexFile(root, index);
    fs.writeFileSync(path.join(root, 'backup/archives/someone-elses-file.txt'), 'not ours');

    const result = json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--keep', '1', '--json'])));
    expect(result.finishedFiles.sort()).toEqual([a!.archive, a!.manifest].sort());
    expect(result.removed).toEqual([b!.id]);
    expect(result.warnings).toEqual([`${c!.manifest}: not a file name of backup ${b!.id}: left in place`]);
    expect(archiveFiles(root)).toEqual([...filesOf([c!]), b!.manifest, 'someone-elses-file.txt'].sort());
    expect(readIndexFile(root).pendingRemoval).toBeUndefined();
    ok(mcpOn(root, ['verify', c!.id]));
  });
});

describe('retention of a schedule (applyRetention)', () => {
  it('plans and removes only the backups that schedule made', async () => {
    const root = smallPlatform();
    const ours = [];
    const theirs = [];
    const manual = [];
    for (let i = 6; i >= 1; i--) {
      manual.push(await backupAt(root, ago(i * HOUR + 30_000)));
      ours.push(await backupAt(root, ago(i * HOUR + 20_000), { origin: { kind: 'schedule', scheduleId: 'sch-ours' } }));
      theirs.push(await backupAt(root, ago(i * HOUR + 10_000), { origin: { kind: 'schedule', scheduleId: 'sch-theirs' } }));
    }
    const manager = await openPlatform({ platform: root, cwd: root });
    const result = await applyRetention(manager, { scheduleId: 'sch-ours', policy: { keep: 2 } });
    expect(result.scheduleId).toBe('sch-ours');
    expect(result.policy).toEqual({ keep: 2, days: 30 });
    expect(result.decisions.map((d) => d.id).sort()).toEqual(ours.map((r) => r.id).sort());
    expect(result.removed.sort()).toEqual(ours.slice(0, 4).map((r) => r.id).sort());
    const left = await manager.list();
    expect(idsOf(left)).toEqual(idsOf([...manual, ...theirs, ...ours.slice(4)]));
    expect(archiveFiles(root)).toEqual(filesOf(left));
  });

  it('keeps a scheduled base that a manual incremental builds on', async () => {
    const root = smallPlatform();
    const scheduled = await backupAt(root, ago(3 * HOUR), { origin: { kind: 'schedule', scheduleId: 'sch-a' } });
    touch(root);
    const incremental = await backupAt(root, ago(2 * HOUR), { type: 'incremental' });
    expect(incremental.parent).toBe(scheduled.id);
    await backupAt(root, ago(HOUR), { origin: { kind: 'schedule', scheduleId: 'sch-a' } });
    const manager = await openPlatform({ platform: root, cwd: root });
    const result = await applyRetention(manager, { scheduleId: 'sch-a', policy: { keep: 1, days: 0 } });
    expect(result.removed).toEqual([]);
    expect(result.decisions.find((d) => d.id === scheduled.id)?.reasons).toContain(`base of incremental ${incremental.id}, which is not in this plan`);
  });

  it('treats safety backups like any other, and says which they are', async () => {
    const root = smallPlatform();
    const first = await backupAt(root, ago(3 * HOUR));
    const safety = await backupAt(root, ago(2 * HOUR), { origin: { kind: 'safety', restoreOf: first.id } });
    await backupAt(root, ago(HOUR));
    const result = json<CleanupResult>(ok(mcpOn(root, ['cleanup', '--keep', '1', '--dry-run', '--json'])));
    const decision = result.decisions.find((d) => d.id === safety.id)!;
    expect(decision).toMatchObject({ action: 'remove', origin: { kind: 'safety', restoreOf: first.id } });
    expect(decision.reasons[0]).toBe(`safety backup taken before restoring ${first.id}`);
  });
});
