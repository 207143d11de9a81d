/**
 * Hostile index files: metadata.json edited by hand or by an attacker, with records whose archive or manifest
 * names point outside archives/, wrong types, absurd numbers, duplicate ids, parent cycles, hostile ids and
 * services, and pendingRemoval entries outside archives/. Every command must refuse with a one-line error or
 * report the record as broken: no stack trace, no hang, no read outside the backup folder (a FIFO outside it would
 * block any reader: the timeout catches it), and no write anywhere but the backup folder and a restore's target.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type CliRun } from './helpers/cli.js';
import { snapshotTree, tempDir, writeTree } from './helpers/tree.js';
import { openPlatform, type BackupRecord } from '../src/index.js';

const YAML = `services:
  app:
    config:  [services/app/config]
    volumes: [services/app/data]
`;

const COMMAND_TIMEOUT_MS = 20_000;

interface Fixture {
  root: string;
  outside: string;
  fifo: string;
  target: string;
  full: BackupRecord;
  incremental: BackupRecord;
  index: { schemaVersion: number; backups: BackupRecord[]; pendingRemoval?: unknown };
}

const made: string[] = [];
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A platform with a full backup and an incremental on it, and a folder outside the backup folder with a FIFO. */
async function fixture(): Promise<Fixture> {
  const root = tempDir('mcp-hostile-index-');
  const target = tempDir('mcp-hostile-target-');
  made.push(root, target);
  writeTree(root, {
    'platform.yaml': YAML,
    services: { app: { config: { 'app.json': '{"port": 8080}\n' }, data: { 'a.txt': 'alpha\n', sub: { 'b.txt': 'beta\n' } } } },
    outside: { 'canary.txt': 'must survive\n' },
  });
  const fifo = path.join(root, 'outside/victim.fifo');
  execFileSync('mkfifo', [fifo]);
  fs.rmSync(target, { recursive: true });
  const manager = await openPlatform({ platform: root, cwd: root });
  const { record: full } = await manager.create({ type: 'full' });
  fs.writeFileSync(path.join(root, 'services/app/data/a.txt'), 'alpha, changed\n');
  const { record: incremental } = await manager.create({ type: 'incremental' });
  const index = JSON.parse(fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8')) as Fixture['index'];
  return { root, outside: path.join(root, 'outside'), fifo, target, full, incremental, index };
}

interface Run extends CliRun {
  args: string[];
  timedOut: boolean;
}

/**
 * Runs several `mcp backup` commands one after the other in one process (one start-up instead of one each), through
 * the CLI's own `main`, with the output of each captured. The process is killed past the timeout, and the command
 * that was running is named: a hang fails the test instead of stalling the suite.
 */
const DRIVER = `
import { Writable } from 'node:stream';
const [mainUrl, commands] = process.argv.slice(-2);
const { main } = await import(mainUrl);
const results = [];
for (const args of JSON.parse(commands)) {
  process.stderr.write('start ' + JSON.stringify(args) + '\\n');
  let stdout = '';
  let stderr = '';
  const sink = (append) => new Writable({ write(chunk, _encoding, done) { append(chunk.toString()); done(); } });
  const io = { stdout: sink((t) => (stdout += t)), stderr: sink((t) => (stderr += t)), stdinIsTTY: false, env: { ...process.env, NO_COLOR: '1' }, cwd: process.cwd() };
  const code = await main(['backup', ...args], io);
  results.push({ args, code, stdout, stderr });
}
process.stdout.write(JSON.stringify(results), () => process.exit(0));
`;

const MAIN = pathToFileURL(path.join(REPO_ROOT, 'dist/mcp.mjs')).href;

function runAll(root: string, commands: string[][]): Promise<Run[]> {
  return new Promise((resolve) => {
    const withPlatform = commands.map((args) => ['--platform', root, ...args]);
    const child = spawn(process.execPath, ['--input-type=module', '-e', DRIVER, MAIN, JSON.stringify(withPlatform)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, COMMAND_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        if (timedOut || code !== 0) throw new Error('no results');
        resolve((JSON.parse(stdout) as Run[]).map((r) => ({ ...r, timedOut: false })));
      } catch {
        // Killed, or the process itself crashed (an unhandled rejection): blame the command that was running.
        const running = [...stderr.matchAll(/^start (.*)$/gm)].at(-1)?.[1] ?? '[]';
        resolve([{ args: JSON.parse(running) as string[], code: code ?? -1, stdout, stderr, timedOut }]);
      }
    });
  });
}

/** Ended on its own, exit 0 or 1, and if it failed, one line (besides warnings) and no stack trace. */
function clean(r: Run): void {
  const label = `${r.args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.timedOut, `hung: ${label}`).toBe(false);
  expect([0, 1], label).toContain(r.code);
  expect(r.stderr, label).not.toMatch(/\n\s+at /);
  expect(r.stderr, label).not.toContain('unexpected error');
  // Terminal escape sequences from the index are never printed as they are.
  expect(r.stdout + r.stderr, label).not.toContain('\u001b');
  const errors = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning: '));
  if (r.code !== 0) expect(errors, label).toHaveLength(1);
}

type Mutation = (index: Fixture['index'], f: Fixture) => void;

const F = (index: Fixture['index']) => index.backups.find((r) => r.type === 'full') as unknown as Record<string, unknown>;
const I = (index: Fixture['index']) => index.backups.find((r) => r.type === 'incremental') as unknown as Record<string, unknown>;

/** Refused as a whole: every command says the index is corrupt and points to `index rebuild`. */
const CORRUPT = 'is corrupt (';

/** Each case: its name, the edit, and what the read-only commands' output must contain. */
const CASES: [string, Mutation, string][] = [
  ['archive name climbing out of archives/ to a FIFO', (x) => void (F(x).archive = '../../outside/victim.fifo'), CORRUPT],
  ['archive name absolute', (x) => void (F(x).archive = '/etc/passwd'), CORRUPT],
  ['archive name absolute, to a FIFO', (x, f) => void (F(x).archive = f.fifo), CORRUPT],
  ['archive name with a folder', (x) => void (F(x).archive = 'sub/x.tar.gz'), CORRUPT],
  ['manifest name climbing out to the index', (x) => void (F(x).manifest = '../metadata.json'), CORRUPT],
  ['manifest name climbing out to a FIFO', (x) => void (I(x).manifest = '../../outside/victim.fifo'), CORRUPT],
  ['archive name of the wrong type', (x) => void (F(x).archive = 42), CORRUPT],
  ['size of the wrong type', (x) => void (F(x).size = 'big'), CORRUPT],
  [
    'absurd numbers',
    (x) => {
      Object.assign(F(x), { size: 1e300, files: -1, bytes: 9e99, entries: 1.5, storedBytes: -5 });
    },
    CORRUPT,
  ],
  [
    'fields missing',
    (x) => {
      for (const key of ['encryption', 'compression', 'parts', 'origin']) delete F(x)[key];
    },
    CORRUPT,
  ],
  [
    'unknown encryption and compression',
    (x) => {
      Object.assign(F(x), { encryption: { mode: 'rot13' }, compression: { algorithm: 'zstd' } });
    },
    CORRUPT,
  ],
  ['services of the wrong type', (x) => void (F(x).services = [1, null]), CORRUPT],
  ['records that are not objects', (x) => x.backups.push(null as never, 7 as never, 'x' as never), CORRUPT],
  ['duplicate ids', (x) => x.backups.push({ ...x.backups[0]! }), CORRUPT],
  ['a parent cycle', (x, f) => void (F(x).parent = f.incremental.id), 'chain broken: it loops back to backup'],
  ['a backup that is its own parent', (x, f) => void (I(x).parent = f.incremental.id), CORRUPT],
  ['a parent that does not exist', (x) => void (I(x).parent = '20990101T000000Z-full-dead'), 'chain broken: parent backup 20990101T000000Z-full-dead is not in the index'],
  [
    'an id with a path and terminal escapes',
    (x) => {
      F(x).id = '../../outside/\u001b]0;pwned\u0007x';
      I(x).parent = F(x).id;
    },
    CORRUPT,
  ],
  ['services that climb out', (x) => void (F(x).services = ['../../outside', '/etc']), CORRUPT],
  ['a description with terminal escapes', (x) => void (F(x).description = 'nice \u001b[2J\u001b[31mred'), 'nice \\x1b[2J\\x1b[31mred'],
  ['createdAt that is no date', (x) => void (F(x).createdAt = 'yesterday'), CORRUPT],
  ['pendingRemoval outside archives/', (x, f) => void (x.pendingRemoval = ['../../outside/canary.txt', path.join(f.outside, 'canary.txt'), '../metadata.json', 'x/../../y']), 'ok      '],
  ['pendingRemoval of the wrong type', (x) => void (x.pendingRemoval = [{ name: 1 }]), CORRUPT],
  ['schemaVersion absurd', (x) => void (x.schemaVersion = 1e308), 'newer than this mcp backup knows'],
  ['an archive name that is another backup\'s archive', (x, f) => void (F(x).archive = f.incremental.archive), 'BROKEN  '],
];

describe('hostile index records', () => {
  it.each(CASES)('%s', async (_name, mutate, expected) => {
    const f = await fixture();
    const hostile = structuredClone(f.index);
    mutate(hostile, f);
    fs.writeFileSync(path.join(f.root, 'backup/metadata.json'), JSON.stringify(hostile));
    const id = typeof F(hostile).id === 'string' && /^[\w-]+$/.test(F(hostile).id as string) ? (F(hostile).id as string) : f.full.id;
    // The FIFO is left out of snapshots: reading it would block them too.
    const fifo = 'outside/victim.fifo';
    const everything = () => snapshotTree(f.root, { mtimes: true, skip: (rel) => rel === fifo });
    const outsideBackup = () =>
      snapshotTree(f.root, { mtimes: true, skip: (rel) => rel === fifo || rel === 'backup' || rel.startsWith('backup/') || rel.startsWith('.mcp-backup-cache') });

    // Read-only commands: nothing changes anywhere.
    const before = everything();
    const reads = await runAll(f.root, [['list'], ['list', '--json'], ['show', id, '--files'], ['verify', '--all'], ['restore', id, '--dry-run']]);
    expect(reads.length).toBe(5);
    for (const r of reads) clean(r);
    expect(reads.map((r) => r.stdout + r.stderr).join('\n')).toContain(expected);
    if (expected === CORRUPT) {
      for (const r of reads) expect(r.stderr).toMatch(/metadata\.json is corrupt \(.*\); it was left as it is: run `mcp backup index rebuild`/);
    }
    expect(everything()).toEqual(before);

    // Writing commands: only the backup folder and the restore target may change.
    const platform = outsideBackup();
    const writes = await runAll(f.root, [['create', '--type', 'incremental'], ['restore', id, '--target', f.target, '--yes'], ['cleanup', '--keep', '1'], ['index', 'rebuild']]);
    expect(writes.length).toBe(4);
    for (const r of writes) clean(r);
    expect(outsideBackup()).toEqual(platform);
    expect(fs.readFileSync(path.join(f.outside, 'canary.txt'), 'utf8')).toBe('must survive\n');
    expect(fs.lstatSync(f.fifo).isFIFO()).toBe(true);
    if (fs.existsSync(f.target)) {
      for (const rel of Object.keys(snapshotTree(f.target))) expect(rel).toMatch(/^(app|_platform)(\/|$)/);
    }
  });
});
