/**
 * The reliability matrix's shared bits: a seeded generator (so every kill instant, flipped byte and truncation
 * replays), a tally that counts what each category survived or caught and prints one line per category at the end
 * of a file, the invariants that must hold after any interrupted command, and a platform big enough that a command
 * takes about a second.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { json, mcpOn, spawnMcp, type CliRun } from '../helpers/cli.js';
import { makePlatform } from '../helpers/platform.js';
import { snapshotTree, tempDir, type TreeRecord } from '../helpers/tree.js';
import type { BackupRecord } from '../../src/index.js';
export { seeded } from '../helpers/random.js';

/** Deterministic bytes (incompressible), so the platform is the same on every run. */
export function bytes(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Counts per category: `passed` of `total`, with notes; `summary()` prints one line per category. */
export class Tally {
  private readonly rows = new Map<string, { total: number; passed: number; notes: string[] }>();
  constructor(private readonly file: string) {}

  private row(category: string) {
    let row = this.rows.get(category);
    if (!row) this.rows.set(category, (row = { total: 0, passed: 0, notes: [] }));
    return row;
  }

  /** Records one case; `ok` false is still counted (the test's own expect fails it). */
  record(category: string, ok: boolean, note?: string): void {
    const row = this.row(category);
    row.total++;
    if (ok) row.passed++;
    if (note) row.notes.push(note);
  }

  count(category: string): { total: number; passed: number } {
    const row = this.row(category);
    return { total: row.total, passed: row.passed };
  }

  summary(): string[] {
    const lines = [...this.rows].map(([category, r]) => `[reliability:${this.file}] ${category}: ${r.passed}/${r.total}`);
    for (const line of lines) console.log(line);
    return lines;
  }
}

/** A platform whose full backup takes about a second here: the standard platform plus ~12 MB in 400 files. */
export function biggerPlatform(): string {
  const root = makePlatform();
  const bulk = path.join(root, 'services/filesystem/data/bulk');
  for (let i = 0; i < 400; i++) {
    fs.mkdirSync(path.join(bulk, `d${i % 16}`), { recursive: true });
    fs.writeFileSync(path.join(bulk, `d${i % 16}`, `f${i}.bin`), bytes(i, 2000 + ((i * 7919) % 40_000)));
  }
  fs.writeFileSync(path.join(bulk, 'large-1.bin'), bytes(1001, 3 << 20));
  fs.writeFileSync(path.join(root, 'services/memory/data/large-2.bin'), bytes(1002, 2 << 20));
  return root;
}

/** A copy of a platform (with its backups), preserving everything. */
export function copyPlatform(template: string, work: string[]): string {
  const dir = path.join(tempDir('mcp-rel-'), 'platform');
  work.push(path.dirname(dir));
  execFileSync('cp', ['-a', template, dir]);
  return dir;
}

/**
 * Everything under the platform except the backup directory and the manifest cache beside it (which encrypted
 * backups write by design): what a backup must never change.
 */
export function sourceSnapshot(root: string): Record<string, TreeRecord> {
  const ours = (rel: string) => ['backup', '.mcp-backup-cache'].some((dir) => rel === dir || rel.startsWith(`${dir}/`));
  return snapshotTree(root, { mtimes: true, skip: ours });
}

/** Spawns `mcp backup --platform root ...args`, SIGKILLs it after `delayMs`; resolves with how it ended. */
export function killAfter(root: string, args: string[], delayMs: number, env: Record<string, string> = {}): Promise<string> {
  const child = spawnMcp(['--platform', root, ...args], { env });
  child.stdout.resume();
  child.stderr.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? `exit ${code}`);
    });
  });
}

/** How long a whole command takes here, start-up included, in ms. */
export function timed(run: () => CliRun): { ms: number; run: CliRun } {
  const started = Date.now();
  const result = run();
  return { ms: Date.now() - started, run: result };
}

/**
 * The lock a SIGKILLed process held goes stale after 20 s and is then taken over (the concurrency file proves that
 * once); the kill tests do not wait 20 s per kill point, they remove it as an operator would.
 */
export function dropStaleLock(root: string): void {
  fs.rmSync(path.join(root, 'backup/.lock'), { recursive: true, force: true });
}

/**
 * The invariants after any interrupted command, checked by the next commands: metadata.json and schedules.json
 * parse, every listed backup has its archive and passes `verify`, and (the next command having run) temp/ is empty.
 */
export function assertConsistent(root: string, env: Record<string, string> = {}, verifyArgs: string[] = []): BackupRecord[] {
  const backupDir = path.join(root, 'backup');
  if (fs.existsSync(path.join(backupDir, 'metadata.json'))) JSON.parse(fs.readFileSync(path.join(backupDir, 'metadata.json'), 'utf8'));
  if (fs.existsSync(path.join(backupDir, 'schedules.json'))) JSON.parse(fs.readFileSync(path.join(backupDir, 'schedules.json'), 'utf8'));
  const list = mcpOn(root, ['list', '--json']);
  expect(list.code, list.stderr).toBe(0);
  const listed = json<BackupRecord[]>(list);
  const archives = new Set(fs.existsSync(path.join(backupDir, 'archives')) ? fs.readdirSync(path.join(backupDir, 'archives')) : []);
  for (const record of listed) expect(archives.has(record.archive), `archive of listed backup ${record.id}`).toBe(true);
  if (listed.length > 0) {
    const verify = mcpOn(root, ['verify', '--all', ...verifyArgs], { env });
    expect(verify.code, `verify --all after the kill: ${verify.stderr}`).toBe(0);
  }
  return listed;
}

/** temp/ holds nothing once a writing command has run after the kill. */
export function expectTempClean(root: string): void {
  const temp = path.join(root, 'backup/temp');
  const left = fs.existsSync(temp) ? fs.readdirSync(temp) : [];
  expect(left, `temp/ after the next command: ${left.join(', ')}`).toEqual([]);
}

/** One-line error, no stack trace. */
export function cleanError(run: CliRun): boolean {
  const lines = run.stderr.trim().split('\n').filter((l) => l !== '' && !l.startsWith('warning: '));
  return run.code !== 0 && lines.length === 1 && !/\n\s+at /.test(run.stderr);
}

/** An age key pair made by age-keygen: the identity file and its public key. */
export function keygen(dir: string): { identity: string; recipient: string } {
  const identity = path.join(dir, 'key.txt');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  return { identity, recipient: execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim() };
}

/** Files in archives/ that no listed record names (an interrupted removal's leftovers are pending, not orphans). */
export function unnamedArchiveFiles(root: string, listed: readonly BackupRecord[]): string[] {
  const named = new Set(listed.flatMap((r) => [r.archive, r.manifest]));
  const dir = path.join(root, 'backup/archives');
  return (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((f) => !named.has(f));
}

/** Deterministic incompressible bytes (SHA-256 in counter mode). */
export function noise(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, block = 0; offset < size; offset += 32, block++) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}
