/**
 * A restore killed (SIGKILL) at every step of its swap, and at random instants: afterwards, once the next command
 * has run, each restored path is entirely as it was or entirely as the backup recorded it (a service's paths all
 * one way), temp/ holds nothing, and a new restore completes. The restore is held at a step with the test-only
 * MCP_BACKUP_TEST_PAUSE_AT, which the CLI turns into the library's `onStep`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpOn, spawnMcp } from './helpers/cli.js';
import { exactSnapshot, treeDifferences, type ExactSnapshot } from './helpers/exact-tree.js';
import { makePlatform } from './helpers/platform.js';
import { backup, expectNoLeftovers, isExcluded, mutate, restored, restoredPaths } from './helpers/restore-fixtures.js';
import { tempDir } from './helpers/tree.js';

const SERVICES: Record<string, string[]> = {
  filesystem: ['fs-config', 'fs-data'],
  git: ['git-config', 'git-repos'],
  memory: ['mem-config', 'mem-data'],
  _platform: ['platform.yaml'],
};

function only(snapshot: ExactSnapshot, label: string): ExactSnapshot {
  return Object.fromEntries(Object.entries(snapshot).filter(([key]) => key === label || key.startsWith(`${label}/`)));
}

/** Deterministic bytes, so the platform is the same on every run. */
function bytes(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('a restore killed mid-way', () => {
  let template: string;
  let id: string;
  let before: ExactSnapshot; // the platform as it is when the restore starts
  let after: ExactSnapshot; // as the backup recorded it, with what the backup never covered kept as it is
  const work: string[] = [];

  beforeAll(() => {
    template = makePlatform();
    const bulk = path.join(template, 'services/filesystem/data/bulk');
    for (let i = 0; i < 300; i++) {
      fs.mkdirSync(path.join(bulk, `d${i % 12}`), { recursive: true });
      fs.writeFileSync(path.join(bulk, `d${i % 12}`, `f${i}.bin`), bytes(i, 1000 + ((i * 7919) % 30_000)));
    }
    fs.writeFileSync(path.join(bulk, 'large-1.bin'), bytes(1001, 3 << 20));
    fs.writeFileSync(path.join(template, 'services/memory/data/large-2.bin'), bytes(1002, 2 << 20));
    const atBackup = exactSnapshot(restoredPaths(template), { skip: isExcluded });
    id = backup(template, '--type', 'full').id;
    mutate(template);
    for (let i = 0; i < 300; i += 6) fs.writeFileSync(path.join(bulk, `d${i % 12}`, `f${i}.bin`), bytes(i + 5000, 2000));
    for (let i = 1; i < 300; i += 10) fs.rmSync(path.join(bulk, `d${i % 12}`, `f${i}.bin`));
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(bulk, `new-${i}.bin`), bytes(i + 9000, 4000));
    fs.writeFileSync(path.join(template, 'services/memory/data/large-2.bin'), bytes(1003, 2 << 20));
    before = exactSnapshot(restoredPaths(template));
    after = { ...atBackup, ...Object.fromEntries(Object.entries(before).filter(([key]) => isExcluded(key))) };
  }, 120_000);
  afterAll(() => {
    for (const dir of [template, ...work]) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh copy of the platform (with its backups), as the restore finds it. */
  function copy(): string {
    const dir = tempDir('mcp-restore-kill-');
    work.push(dir);
    execFileSync('cp', ['-a', `${template}/.`, dir]);
    return dir;
  }

  /** Each path entirely old or entirely new, each service's paths all one way. Returns the new services. */
  function expectOldOrNew(root: string): string[] {
    const now = exactSnapshot(restoredPaths(root));
    const done: string[] = [];
    for (const [service, labels] of Object.entries(SERVICES)) {
      const states = labels.map((label) => {
        const isOld = treeDifferences(only(now, label), only(before, label)).length === 0;
        const isNew = treeDifferences(only(now, label), only(after, label)).length === 0;
        if (isOld && isNew) return 'same'; // Unchanged since the backup: either way.
        if (isOld) return 'old';
        if (isNew) return 'new';
        return `neither: ${treeDifferences(only(now, label), only(after, label)).slice(0, 5).join('; ')}`;
      });
      const decided = states.filter((s) => s !== 'same');
      expect(decided.every((s) => s === decided[0]), `${service}: ${states.join(', ')}`).toBe(true);
      expect(['old', 'new', undefined], `${service}: ${decided[0]}`).toContain(decided[0]);
      if (decided[0] === 'new') done.push(service);
    }
    return done;
  }

  function runUntilPaused(root: string, step: string, extra: string[] = []): Promise<ReturnType<typeof spawnMcp>> {
    const child = spawnMcp(['--platform', root, 'restore', id, '--yes', ...extra], { env: { MCP_BACKUP_TEST_PAUSE_AT: step } });
    return new Promise((resolve, reject) => {
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('paused at ')) resolve(child);
      });
      child.on('exit', (code) => reject(new Error(`restore ended (${code}) before pausing at ${step}: ${stderr}`)));
    });
  }

  async function kill(child: ReturnType<typeof spawnMcp>): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** The next command: a restore into a scratch folder, which settles the interrupted one first. */
  function nextCommand(root: string): string {
    const scratch = tempDir('mcp-restore-next-');
    work.push(scratch);
    const run = mcpOn(root, ['restore', id, '--services', 'memory', '--target', scratch, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return run.stderr;
  }

  const cases: [string, string[], string[]][] = [
    // step to kill at, extra options, services expected restored afterwards
    ['staged', [], []],
    ['aside:data', ['--no-safety-backup'], []], // between the two renames of a folder
    ['swapped-path:filesystem:1', ['--no-safety-backup'], []], // every path moved, not yet committed: rolled back
    ['committed:filesystem', ['--no-safety-backup'], ['filesystem']], // committed: rolled forward
    ['aside:config.json', ['--no-safety-backup'], ['filesystem']], // a file hard-linked aside, not yet replaced
    ['aside:repos', ['--no-safety-backup'], ['filesystem']],
    ['committed:memory', [], ['filesystem', 'git', 'memory']],
    ['aside:platform.yaml', ['--no-safety-backup'], ['filesystem', 'git', 'memory']],
    ['done', ['--no-safety-backup'], ['filesystem', 'git', 'memory', '_platform']],
  ];

  for (const [step, extra, expected] of cases) {
    it(`at ${step}: each path is as it was or fully restored`, async () => {
      const root = copy();
      await kill(await runUntilPaused(root, step, extra));
      const dry = mcpOn(root, ['restore', id, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stderr).toMatch(/an interrupted restore left .*the next restore or backup will put its paths in order first/);
      const warning = nextCommand(root);
      expect(warning).toMatch(/finished cleaning up an interrupted restore/);
      expect(expectOldOrNew(root).sort()).toEqual([...expected].sort());
      expectNoLeftovers(root);
      execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: path.join(root, 'services/git/repos/website') });
      // And a restore run again completes.
      restored(mcpOn(root, ['restore', id, '--no-safety-backup', '--json']));
      expect(expectOldOrNew(root).sort()).toEqual(Object.keys(SERVICES).sort());
      expectNoLeftovers(root);
    });
  }

  it('a backup (which sweeps temp/) settles an interrupted restore too', async () => {
    const root = copy();
    await kill(await runUntilPaused(root, 'committed:git', ['--no-safety-backup']));
    const run = mcpOn(root, ['create', '--type', 'service', '--services', 'memory', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(expectOldOrNew(root).sort()).toEqual(['filesystem', 'git']);
    expectNoLeftovers(root);
  });

  it('one restore at a time: a second one is refused while the first runs, and takes over once it was killed', async () => {
    const root = copy();
    const first = await runUntilPaused(root, 'staged', ['--no-safety-backup']);
    const second = mcpOn(root, ['restore', id, '--yes']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`another restore is running on this platform \\(process ${first.pid}\\): retry when it has finished`));
    await kill(first);
    restored(mcpOn(root, ['restore', id, '--no-safety-backup', '--json']));
    expect(expectOldOrNew(root).sort()).toEqual(Object.keys(SERVICES).sort());
    expectNoLeftovers(root);
  });

  it('takes over the lock of a restore killed before it recorded its owner, once the lock goes stale', () => {
    const root = copy();
    // As a kill right after the lock was taken leaves it: the lock, and an owner record not yet written. Both 8 s
    // old, so the lock goes stale (at 20 s) after the 10 s a restore waits for a live one.
    const lock = path.join(root, 'backup/temp/.restore');
    fs.mkdirSync(`${lock}.lease`, { recursive: true });
    fs.writeFileSync(`${lock}.owner`, '');
    const then = new Date(Date.now() - 8_000);
    for (const file of [`${lock}.lease`, `${lock}.owner`]) fs.utimesSync(file, then, then);
    restored(mcpOn(root, ['restore', id, '--no-safety-backup', '--json']));
    expect(expectOldOrNew(root).sort()).toEqual(Object.keys(SERVICES).sort());
    expectNoLeftovers(root);
  });

  for (const delay of [150, 400, 800, 1300]) {
    it(`killed after ${delay} ms: each path is as it was or fully restored`, async () => {
      const root = copy();
      const child = spawnMcp(['--platform', root, 'restore', id, '--yes']);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill('SIGKILL');
      await exited;
      nextCommand(root);
      expectOldOrNew(root);
      expectNoLeftovers(root);
      execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: path.join(root, 'services/git/repos/website') });
    });
  }
});
