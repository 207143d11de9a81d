/**
 * Kills: the real CLI, SIGKILLed at seeded instants spread over its measured run, for create (full, incremental,
 * encrypted), a chain restore, delete, index rebuild and the daemon. (test/restore-kill.test.ts and
 * test/cleanup-kill.test.ts already kill in-place restores and cleanups: 15 and 10 kill points.) After each kill the
 * next commands find metadata.json and schedules.json parsing, every listed backup with its archive and passing
 * `verify`, the platform's own files byte-identical (for backups), each restored path entirely old or entirely new
 * (for restores), and temp/ swept. Replay one instant with the printed delay and SEED.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, mcpOn } from '../helpers/cli.js';
import { readIndexFile } from '../helpers/backups.js';
import { exactSnapshot, treeDifferences, type ExactSnapshot } from '../helpers/exact-tree.js';
import { isExcluded, mutate, restoredPaths } from '../helpers/restore-fixtures.js';
import { tempDir } from '../helpers/tree.js';
import {
  assertConsistent,
  biggerPlatform,
  bytes,
  copyPlatform,
  dropStaleLock,
  expectTempClean,
  keygen,
  killAfter,
  seeded,
  sourceSnapshot,
  Tally,
  timed,
  unnamedArchiveFiles,
} from './matrix.js';
import type { BackupRecord } from '../../src/index.js';

const SEED = 0x9b1e55;
const tally = new Tally('kill');
const work: string[] = [];
const next = seeded(SEED);

/** `count` instants in [0, 1.1 × the measured run], from the shared seeded generator. */
function instants(fullRunMs: number, count: number): number[] {
  return Array.from({ length: count }, () => Math.round(fullRunMs * 1.1 * next()));
}

function created(root: string, args: string[], env: Record<string, string> = {}): BackupRecord {
  const run = mcpOn(root, ['create', '--json', ...args], { env });
  expect(run.code, run.stderr).toBe(0);
  return json<BackupRecord>(run);
}

/** Changes a tenth of the bulk files, so an incremental has something to store. */
function change(root: string, round: number): void {
  const bulk = path.join(root, 'services/filesystem/data/bulk');
  for (let i = round % 10; i < 400; i += 10) fs.writeFileSync(path.join(bulk, `d${i % 16}`, `f${i}.bin`), bytes(i + round * 1000, 3000));
}

let template: string;
let keys: { identity: string; recipient: string };

beforeAll(() => {
  template = biggerPlatform();
  work.push(template);
  const keyDir = tempDir('mcp-rel-keys-');
  work.push(keyDir);
  keys = keygen(keyDir);
}, 120_000);

afterAll(() => {
  tally.summary();
  for (const dir of work) fs.rmSync(dir, { recursive: true, force: true });
});

/** A killed backup command: consistency, the source untouched, and the next backup sweeps temp/. */
async function killBackup(category: string, base: string, args: string[], count: number, verifyArgs: string[] = []): Promise<void> {
  const env: Record<string, string> = {};
  const probe = copyPlatform(base, work);
  const { ms, run } = timed(() => mcpOn(probe, args, { env }));
  expect(run.code, run.stderr).toBe(0);
  const outcomes: string[] = [];
  for (const delay of instants(ms, count)) {
    const root = copyPlatform(base, work);
    const before = sourceSnapshot(root);
    const listedBefore = json<BackupRecord[]>(mcpOn(root, ['list', '--json'])).map((r) => r.id);
    const ended = await killAfter(root, args, delay);
    outcomes.push(`${delay} ms: ${ended}`);
    expect(sourceSnapshot(root), `${category} killed at ${delay} ms changed the platform`).toEqual(before);
    const listed = assertConsistent(root, env, verifyArgs);
    // Nothing listed is lost; at most the one backup the command was making is new.
    expect(listed.map((r) => r.id)).toEqual(expect.arrayContaining(listedBefore));
    expect(listed.length - listedBefore.length).toBeLessThanOrEqual(1);
    // Regression (create killed between its renames and its record left an archive nothing knew of): any file in
    // archives/ that no record names is named in pendingRemoval, and the next cleanup removes it.
    const pending = fs.existsSync(path.join(root, 'backup/metadata.json')) ? (readIndexFile(root).pendingRemoval ?? []) : [];
    expect(unnamedArchiveFiles(root, listed).filter((f) => !pending.includes(f)), `killed at ${delay} ms`).toEqual([]);
    dropStaleLock(root);
    created(root, ['--type', 'service', '--services', 'memory']);
    expectTempClean(root);
    expect(mcpOn(root, ['cleanup', '--keep', '1000', '--days', '100000']).code).toBe(0);
    expect(unnamedArchiveFiles(root, json<BackupRecord[]>(mcpOn(root, ['list', '--json'])))).toEqual([]);
    tally.record(category, true, `${delay} ms ${ended}`);
  }
  expect(outcomes, outcomes.join('\n')).toHaveLength(count);
}

describe('kills during create', () => {
  it('create --type full, at 8 instants', async () => {
    await killBackup('create full', template, ['create', '--type', 'full'], 8);
  });

  it('create --type incremental, at 6 instants', async () => {
    const base = copyPlatform(template, work);
    created(base, ['--type', 'full']);
    change(base, 1);
    created(base, ['--type', 'incremental']);
    change(base, 2);
    await killBackup('create incremental', base, ['create', '--type', 'incremental'], 6);
  });

  it('create --type full --encrypt, at 5 instants', async () => {
    await killBackup('create encrypted', template, ['create', '--type', 'full', '--encrypt', '--recipient', keys.recipient], 5, ['--identity', keys.identity]);
  });
});

describe('kills during a chain restore', () => {
  const SERVICES = ['fs-config', 'fs-data', 'git-config', 'git-repos', 'mem-config', 'mem-data', 'platform.yaml'];
  const only = (s: ExactSnapshot, label: string) => Object.fromEntries(Object.entries(s).filter(([k]) => k === label || k.startsWith(`${label}/`)));

  it('restore of an incremental (full + 2 incrementals) in place, at 5 instants: each path entirely old or entirely new', async () => {
    const base = copyPlatform(template, work);
    created(base, ['--type', 'full']);
    change(base, 1);
    created(base, ['--type', 'incremental']);
    change(base, 2);
    const id = created(base, ['--type', 'incremental']).id;
    const atBackup = exactSnapshot(restoredPaths(base), { skip: isExcluded });
    mutate(base);
    change(base, 3);
    const old = exactSnapshot(restoredPaths(base));
    const fresh = { ...atBackup, ...Object.fromEntries(Object.entries(old).filter(([key]) => isExcluded(key))) };
    const args = ['restore', id, '--yes', '--no-safety-backup'];
    const { ms } = timed(() => mcpOn(copyPlatform(base, work), args));
    for (const delay of instants(ms, 5)) {
      const root = copyPlatform(base, work);
      const ended = await killAfter(root, args, delay);
      dropStaleLock(root);
      // The next command (a restore elsewhere) settles the interrupted one first.
      const scratch = tempDir('mcp-rel-next-');
      work.push(scratch);
      const settle = mcpOn(root, ['restore', id, '--services', 'memory', '--target', scratch, '--json']);
      expect(settle.code, settle.stderr).toBe(0);
      const now = exactSnapshot(restoredPaths(root));
      const states = SERVICES.map((label) => {
        const isOld = treeDifferences(only(now, label), only(old, label)).length === 0;
        const isNew = treeDifferences(only(now, label), only(fresh, label)).length === 0;
        return isOld ? 'old' : isNew ? 'new' : `neither (${treeDifferences(only(now, label), only(fresh, label)).slice(0, 3).join('; ')})`;
      });
      expect(states.every((s) => s === 'old' || s === 'new'), `killed at ${delay} ms (${ended}): ${SERVICES.map((l, i) => `${l}=${states[i]}`).join(', ')}`).toBe(true);
      assertConsistent(root);
      expectTempClean(root);
      tally.record('restore chain', true, `${delay} ms ${ended}`);
    }
  });
});

describe('kills during maintenance', () => {
  let withBackups: string;

  beforeAll(() => {
    withBackups = copyPlatform(template, work);
    created(withBackups, ['--type', 'full']);
    for (let round = 1; round <= 3; round++) {
      change(withBackups, round);
      created(withBackups, ['--type', 'incremental']);
    }
    created(withBackups, ['--type', 'full']);
  }, 60_000);

  it('delete --with-dependents of a chain, at 5 instants', async () => {
    const chainBase = json<BackupRecord[]>(mcpOn(withBackups, ['list', '--json', '--type', 'full'])).at(-1)!; // the oldest full
    const args = ['delete', chainBase.id, '--with-dependents'];
    const { ms } = timed(() => mcpOn(copyPlatform(withBackups, work), args));
    for (const delay of instants(ms, 5)) {
      const root = copyPlatform(withBackups, work);
      const ended = await killAfter(root, args, delay);
      const listed = assertConsistent(root);
      // A chain is removed whole or not at all as far as the index can tell: no incremental left without its base.
      const ids = new Set(listed.map((r) => r.id));
      for (const record of listed) if (record.parent) expect(ids.has(record.parent), `${record.id} lost its parent (killed at ${delay} ms)`).toBe(true);
      dropStaleLock(root);
      const finish = mcpOn(root, ['cleanup', '--keep', '1000', '--days', '100000']);
      expect(finish.code, finish.stderr).toBe(0);
      const after = assertConsistent(root);
      expect(unnamedArchiveFiles(root, after)).toEqual([]);
      expectTempClean(root);
      tally.record('delete', true, `${delay} ms ${ended}`);
    }
  });

  it('index rebuild, at 5 instants', async () => {
    const args = ['index', 'rebuild'];
    const all = json<BackupRecord[]>(mcpOn(withBackups, ['list', '--json'])).map((r) => r.id).sort();
    const { ms } = timed(() => mcpOn(copyPlatform(withBackups, work), args));
    for (const delay of instants(ms, 5)) {
      const root = copyPlatform(withBackups, work);
      const ended = await killAfter(root, args, delay);
      const listed = assertConsistent(root);
      expect(listed.map((r) => r.id).sort(), `index rebuild killed at ${delay} ms (${ended}) lost records`).toEqual(all);
      dropStaleLock(root);
      const again = mcpOn(root, args);
      expect(again.code, again.stderr).toBe(0);
      expect(json<BackupRecord[]>(mcpOn(root, ['list', '--json'])).map((r) => r.id).sort()).toEqual(all);
      tally.record('index rebuild', true, `${delay} ms ${ended}`);
    }
  });
});

describe('kills during the daemon', () => {
  it('a daemon running a missed schedule (full backup, then its retention), at 5 instants', async () => {
    const base = copyPlatform(template, work);
    created(base, ['--type', 'full']);
    const add = mcpOn(base, ['schedule', '0 * * * *', '--type', 'full', '--keep', '1', '--json']);
    expect(add.code, add.stderr).toBe(0);
    // Created two hours ago: the daemon finds a missed slot and runs it at start-up.
    const file = path.join(base, 'backup/schedules.json');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { schedules: { createdAt: string }[] };
    for (const s of stored.schedules) s.createdAt = new Date(Date.now() - 2 * 3_600_000).toISOString();
    fs.writeFileSync(file, JSON.stringify(stored));
    const listed0 = json<BackupRecord[]>(mcpOn(base, ['list', '--json']));
    // How long until the daemon's run is done: a run-due pass does the same work.
    const { ms, run } = timed(() => mcpOn(copyPlatform(base, work), ['schedule', 'run-due']));
    expect(run.code, run.stderr).toBe(0);
    for (const delay of instants(ms, 5)) {
      const root = copyPlatform(base, work);
      const before = sourceSnapshot(root);
      const ended = await killAfter(root, ['daemon'], delay);
      expect(sourceSnapshot(root)).toEqual(before);
      const listed = assertConsistent(root);
      // Retention keeps at least one backup: never no way back.
      expect(listed.length).toBeGreaterThanOrEqual(1);
      expect(listed.length).toBeLessThanOrEqual(listed0.length + 1);
      dropStaleLock(root);
      const schedules = mcpOn(root, ['schedule', 'list', '--json']);
      expect(schedules.code, schedules.stderr).toBe(0);
      expect(json<unknown[]>(schedules)).toHaveLength(1);
      // As for a killed create: a file no record names is named in pendingRemoval, and the next cleanup removes it.
      const pending = readIndexFile(root).pendingRemoval ?? [];
      expect(unnamedArchiveFiles(root, listed).filter((f) => !pending.includes(f)), `killed at ${delay} ms`).toEqual([]);
      created(root, ['--type', 'service', '--services', 'memory']);
      expectTempClean(root);
      expect(mcpOn(root, ['cleanup', '--keep', '1000', '--days', '100000']).code).toBe(0);
      expect(unnamedArchiveFiles(root, json<BackupRecord[]>(mcpOn(root, ['list', '--json'])))).toEqual([]);
      tally.record('daemon', true, `${delay} ms ${ended}`);
    }
  });
});

describe('the figures', () => {
  it('at least 36 kill points here (plus 15 in restore-kill and 10 in cleanup-kill)', () => {
    const total = ['create full', 'create incremental', 'create encrypted', 'restore chain', 'delete', 'index rebuild', 'daemon'].reduce((n, c) => n + tally.count(c).total, 0);
    expect(total).toBeGreaterThanOrEqual(36);
  });
});
