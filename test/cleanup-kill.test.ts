/**
 * A cleanup killed (SIGKILL) at any instant leaves a consistent backup directory: metadata.json parses, every
 * listed backup has its archive and manifest copy, and every other file of ours in archives/ is one the index names
 * as pending removal, which the next cleanup or index rebuild deletes. The instants come from a seeded generator,
 * spread over the time a whole cleanup takes on this machine, so a failure can be replayed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { json, mcpOn, spawnMcp } from './helpers/cli.js';
import { ago, backupAt, filesOf, HOUR, readIndexFile, smallPlatform } from './helpers/backups.js';
import { tempDir } from './helpers/tree.js';
import type { BackupRecord, RebuildReport } from '../src/index.js';
import { seeded as random } from './helpers/random.js';

const BACKUPS = 40;
const KILLS = 10;
const SEED = 0x6c1ea9;

function copyPlatform(template: string): string {
  const root = path.join(tempDir('mcp-kill-'), 'platform');
  fs.cpSync(template, root, { recursive: true });
  return root;
}

const CLEANUP = ['cleanup', '--keep', '1', '--days', '0'];

/** Runs the cleanup, killing it after `delayMs`; resolves with how it ended. */
function killedCleanup(root: string, delayMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  const child = spawnMcp(['--platform', root, ...CLEANUP]);
  child.stdout.resume();
  child.stderr.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started });
    });
  });
}

/** The invariants that must hold at every instant. */
function assertConsistent(root: string): { listed: BackupRecord[]; pending: string[] } {
  const index = readIndexFile(root); // Throws if metadata.json does not parse.
  const list = mcpOn(root, ['list', '--json']);
  expect(list.code, list.stderr).toBe(0);
  const listed = json<BackupRecord[]>(list);
  expect(listed.length).toBe(index.backups.length);
  const archives = new Set(fs.readdirSync(path.join(root, 'backup/archives')));
  for (const record of listed) {
    expect(archives.has(record.archive), `archive of listed backup ${record.id}`).toBe(true);
    expect(archives.has(record.manifest), `manifest copy of listed backup ${record.id}`).toBe(true);
  }
  const named = new Set([...filesOf(listed), ...(index.pendingRemoval ?? [])]);
  for (const file of archives) expect(named.has(file), `${file} is listed or pending removal`).toBe(true);
  return { listed, pending: index.pendingRemoval ?? [] };
}

describe('a killed cleanup', () => {
  let template: string;
  let newest: BackupRecord;
  let fullRunMs: number;

  beforeAll(async () => {
    template = smallPlatform();
    for (let i = BACKUPS; i >= 1; i--) newest = await backupAt(template, ago(i * HOUR));
    // How long a whole cleanup takes here, start-up included: the kills are spread over that span.
    const probe = copyPlatform(template);
    const started = Date.now();
    expect(mcpOn(probe, CLEANUP).code).toBe(0);
    fullRunMs = Date.now() - started;
  });

  it(`leaves a consistent index at ${KILLS} instants, and the next command finishes the job`, async () => {
    const next = random(SEED);
    const outcomes: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      const root = copyPlatform(template);
      const delay = Math.round(fullRunMs * (0.2 + 1.0 * next()));
      const ended = await killedCleanup(root, delay);
      const { listed, pending } = assertConsistent(root);
      outcomes.push(`${delay} ms: ${ended.signal ?? `exit ${ended.code}`}, ${listed.length} listed, ${pending.length} pending`);

      // The killed process is gone: its lock would be taken over once stale; the test does not wait for that.
      fs.rmSync(path.join(root, 'backup/.lock'), { recursive: true, force: true });
      // Half the time the next command is another cleanup, half the time an index rebuild.
      if (i % 2 === 0) {
        expect(mcpOn(root, CLEANUP).code).toBe(0);
      } else {
        const report = json<RebuildReport>(mcpOn(root, ['index', 'rebuild', '--json']));
        expect(report.added).toEqual([]);
        expect(report.unreadable).toEqual([]);
        expect(report.finishedFiles.sort()).toEqual([...pending].sort());
        expect(mcpOn(root, CLEANUP).code).toBe(0);
      }
      const after = assertConsistent(root);
      expect(after.pending).toEqual([]);
      expect(after.listed.map((r) => r.id)).toEqual([newest.id]);
      expect(fs.readdirSync(path.join(root, 'backup/archives')).sort()).toEqual(filesOf([newest]));
    }
    // On this machine the seed's instants fall before the first index write, between it and the last deletion
    // (files pending), and after; `outcomes` says which, when a run needs explaining.
    expect(outcomes, outcomes.join('\n')).toHaveLength(KILLS);
  });
});
