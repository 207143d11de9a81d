/**
 * Bad input gets a one-line error that names the problem and the fix, a non-zero exit code, no stack trace, and
 * leaves every file as it was.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, json, mcp, mcpOn, publicBin, spawnMcp, type CliRun } from './helpers/cli.js';
import { makePlatform, STANDARD_YAML } from './helpers/platform.js';
import { snapshotTree, tempDir } from './helpers/tree.js';
import type { BackupRecord } from '../src/index.js';

/** Asserts the run failed cleanly: the exit code, one line on stderr containing `message`, nothing on stdout. */
function refused(run: CliRun, code: number, message: string | RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  if (typeof message === 'string') expect(run.stderr).toContain(message);
  else expect(run.stderr).toMatch(message);
}

function unchanged(root: string, action: () => void): void {
  const before = snapshotTree(root, { mtimes: true });
  action();
  expect(snapshotTree(root, { mtimes: true })).toEqual(before);
}

describe('usage errors exit 2', () => {
  const root = makePlatform();
  mcpOn(root, ['create', '--type', 'full', '--quiet']);

  it.each([
    [['create', '--type', 'weekly'], "--type must be one of full, incremental, service"],
    [['create'], "required option '--type <type>' not specified"],
    [['create', '--type', 'service'], '--type service needs --services a,b (this platform has filesystem, git, memory)'],
    [['create', '--type', 'service', '--services', 'filesystem,postgres'], 'unknown service postgres: this platform has filesystem, git, memory'],
    [['create', '--type', 'full', '--services', 'git'], 'a full backup takes every service'],
    [['create', '--type', 'full', '--bogus'], "unknown option '--bogus'"],
    [['list', '--days', 'seven'], '--days must be a whole number'],
    [['list', '--type', 'nightly'], '--type must be one of'],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])('%j', (args, message) => {
    unchanged(root, () => refused(mcpOn(root, args), 2, message));
  });
});

describe('failures exit 1 and change nothing', () => {
  it('unknown and ambiguous ids', () => {
    const root = makePlatform();
    const a = json<BackupRecord>(mcpOn(root, ['create', '--type', 'full', '--json']));
    const b = json<BackupRecord>(mcpOn(root, ['create', '--type', 'full', '--json']));
    unchanged(root, () => {
      refused(mcpOn(root, ['show', '19990101T000000Z-full-0000']), 1, 'no backup with id 19990101T000000Z-full-0000: see `mcp backup list`');
      const common = a.id.slice(0, 8);
      const run = mcpOn(root, ['show', common]);
      refused(run, 1, `backup id ${common} is ambiguous`);
      expect(run.stderr).toContain(a.id);
      expect(run.stderr).toContain(b.id);
      refused(mcpOn(root, ['verify', 'nope']), 1, 'no backup with id nope');
    });
    expect(mcpOn(root, ['show', b.id.slice(0, -1)]).code).toBe(0);
  });

  it.each([
    ['an unknown field', STANDARD_YAML.replace('    exclude:', '    excludes:'), /platform\.yaml:7: services\.filesystem: unknown field "excludes"/],
    ['a wrong type', STANDARD_YAML.replace('volumes: [services/git/repos]', 'volumes: 42'), /platform\.yaml:10: services\.git\.volumes: Invalid input: expected array, received number/],
    ['broken YAML', STANDARD_YAML.replace('  git:\n', '  git: [\n'), /platform\.yaml:\d+: invalid YAML/],
    ['no services', 'name: empty\nservices: {}\n', /platform\.yaml:2: services: must name at least one service/],
    ['a bad retention', `${STANDARD_YAML}backup:\n  retention: { keep: -1 }\n`, /platform\.yaml:\d+: backup\.retention\.keep: /],
  ])('an invalid platform.yaml (%s) names file, line and field', (_name, yaml, message) => {
    const root = makePlatform({ yaml });
    unchanged(root, () => {
      refused(mcpOn(root, ['create', '--type', 'full']), 1, message);
      refused(mcpOn(root, ['list']), 1, message);
    });
  });

  it('a missing service path names the service, the path and the fix', () => {
    const root = makePlatform({ yaml: STANDARD_YAML.replace('services/git/repos', 'services/git/repositories') });
    unchanged(root, () =>
      refused(mcpOn(root, ['create', '--type', 'full']), 1, /service git: volumes path services\/git\/repositories does not exist .*: create it or fix .*platform\.yaml/),
    );
  });

  it('a corrupt metadata.json is never overwritten, and the error points to index rebuild', () => {
    const root = makePlatform();
    mcpOn(root, ['create', '--type', 'full', '--quiet']);
    const index = path.join(root, 'backup/metadata.json');
    fs.writeFileSync(index, '{"schemaVersion": 1, "backups": [');
    unchanged(root, () => {
      refused(mcpOn(root, ['list']), 1, /metadata\.json is corrupt .*: run `mcp backup index rebuild`/);
      refused(mcpOn(root, ['create', '--type', 'full']), 1, 'index rebuild');
    });
  });

  it('an index from a newer version is refused', () => {
    const root = makePlatform();
    fs.mkdirSync(path.join(root, 'backup'));
    fs.writeFileSync(path.join(root, 'backup/metadata.json'), '{"schemaVersion": 99, "backups": []}');
    unchanged(root, () => refused(mcpOn(root, ['list']), 1, 'has schema version 99, newer than this mcp backup knows (1): upgrade mcp backup'));
  });

  it('a file name that is not UTF-8 fails the backup unless --skip-unreadable', () => {
    const root = makePlatform();
    const dir = path.join(root, 'services/filesystem/data');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'x');
    unchanged(root, () => refused(mcpOn(root, ['create', '--type', 'full']), 1, /1 path cannot be backed up: .*file name is not valid UTF-8.*--skip-unreadable/));
    const run = mcpOn(root, ['create', '--type', 'full', '--skip-unreadable', '--json']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('file name is not valid UTF-8');
    expect(json<{ skippedFiles: string[] }>(run).skippedFiles).toHaveLength(1);
  });

  it('a problem the scan finds after packing has started refuses the backup all the same, and leaves no trace of it', () => {
    const root = makePlatform();
    const many = path.join(root, 'services/filesystem/data/many');
    for (let d = 0; d < 10; d++) {
      fs.mkdirSync(path.join(many, `d${d}`), { recursive: true });
      for (let f = 0; f < 400; f++) fs.writeFileSync(path.join(many, `d${d}`, `f${f}`), `${d} ${f}\n`);
    }
    // In the last service, thousands of names into the walk.
    const dir = path.join(root, 'services/memory/data');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff]), Buffer.from('.json')]), 'x');
    const message = /1 path cannot be backed up: .*memory\/data\/bad-.*file name is not valid UTF-8.*--skip-unreadable/;
    // The first backup: not even the backup folder is left.
    unchanged(root, () => refused(mcpOn(root, ['create', '--type', 'full']), 1, message));
    // With backups there: the index and the archives as they were, and nothing left in temp/.
    const ok = mcpOn(root, ['create', '--type', 'full', '--skip-unreadable', '--quiet']);
    expect(ok.code, ok.stderr).toBe(0);
    const backups = path.join(root, 'backup');
    const before = snapshotTree(backups, { mtimes: true, skip: (p) => p === 'temp' });
    refused(mcpOn(root, ['create', '--type', 'full']), 1, message);
    refused(mcpOn(root, ['create', '--type', 'incremental']), 1, message);
    expect(snapshotTree(backups, { mtimes: true, skip: (p) => p === 'temp' })).toEqual(before);
    expect(fs.readdirSync(path.join(backups, 'temp'))).toEqual([]);
  });

  it('an unreadable file fails the backup with its path, unless --skip-unreadable', () => {
    const root = makePlatform();
    const secret = path.join(root, 'services/filesystem/data/notes/secret.txt');
    fs.writeFileSync(secret, 'secret');
    fs.chmodSync(secret, 0o000);
    // Root reads anything: run the CLI as an unprivileged user when the tests run as root.
    const asUser = process.getuid?.() === 0;
    if (asUser) spawnSync('chown', ['-R', 'nobody:nogroup', root]);
    const run = (args: string[]): CliRun => {
      const command = asUser ? 'setpriv' : process.execPath;
      const prefix = asUser ? ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath] : [];
      const r = spawnSync(command, [...prefix, asUser ? publicBin() : BIN, 'backup', '--platform', root, ...args], { encoding: 'utf8', cwd: '/' });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    unchanged(root, () => refused(run(['create', '--type', 'full']), 1, /1 path cannot be backed up: .*secret\.txt \(permission denied\).*--skip-unreadable/));
    const ok = run(['create', '--type', 'full', '--skip-unreadable', '--json']);
    expect(ok.code).toBe(0);
    expect(json<{ skippedFiles: string[]; files: number }>(ok).skippedFiles).toEqual([secret]);
  });

  it('no platform found says how to name one', () => {
    const dir = tempDir();
    refused(mcp(['list'], { cwd: dir }), 1, /no platform\.yaml found in .* or any folder above it: pass --platform DIR or set MCP_PLATFORM_HOME/);
    refused(mcp(['--platform', path.join(dir, 'nope'), 'list']), 1, /platform folder .*nope \(from --platform\) does not exist/);
  });

  it('a failing pre_backup hook aborts the backup and names the hook', () => {
    const yaml = STANDARD_YAML.replace("    exclude: [\"**/*.tmp\", \"cache/**\"]\n", "    exclude: [\"**/*.tmp\", \"cache/**\"]\n    hooks:\n      pre_backup: \"echo database is locked >&2; exit 3\"\n");
    const root = makePlatform({ yaml });
    unchanged(root, () => refused(mcpOn(root, ['create', '--type', 'full']), 1, 'pre_backup hook of service filesystem exited with 3: database is locked'));
  });
});

describe('platform discovery', () => {
  it('finds platform.yaml upward from the current folder, and MCP_PLATFORM_HOME', () => {
    const root = makePlatform();
    const deep = path.join(root, 'services/filesystem/data/notes');
    expect(json<{ platform: { root: string } }>(mcp(['services', '--json'], { cwd: deep })).platform.root).toBe(root);
    expect(json<{ platform: { root: string } }>(mcp(['services', '--json'], { cwd: '/', env: { MCP_PLATFORM_HOME: root } })).platform.root).toBe(root);
  });

  it('discovers services by convention without platform.yaml', () => {
    const root = makePlatform({
      yaml: null,
      tree: { services: { alpha: { config: { 'a.json': '{}' }, data: { 'x.bin': 'x' } }, beta: { volumes: { 'y.txt': 'y' }, logs: { 'b.log': 'l' } } } },
    });
    const services = json<{ services: { name: string; paths: { part: string; declared: string; files: number }[] }[] }>(mcpOn(root, ['services', '--json'])).services;
    expect(services.map((s) => [s.name, s.paths.map((p) => `${p.part}:${p.declared}`)])).toEqual([
      ['alpha', ['config:services/alpha/config', 'volumes:services/alpha/data']],
      ['beta', ['volumes:services/beta/volumes', 'logs:services/beta/logs']],
    ]);
    const record = json<BackupRecord>(mcpOn(root, ['create', '--type', 'full', '--json']));
    expect(record.parts.platformConfig).toBe(false);
    expect(record.files).toBe(3);
  });
});

describe('a killed create', () => {
  it('leaves nothing listed, and the next command removes its leftovers from temp/', async () => {
    const root = makePlatform();
    const big = path.join(root, 'services/filesystem/data/big');
    fs.mkdirSync(big);
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(big, `blob-${i}.bin`), Buffer.alloc(2_000_000, i));
    const child = spawnMcp(['--platform', root, 'create', '--type', 'full', '--compression-level', '9']);
    // Wait until the archive is being written, then kill.
    const temp = path.join(root, 'backup/temp');
    for (let i = 0; i < 200; i++) {
      const staging = fs.existsSync(temp) ? fs.readdirSync(temp).filter((n) => !n.endsWith('.lease') && !n.endsWith('.owner')) : [];
      if (staging.some((dir) => fs.readdirSync(path.join(temp, dir)).length > 0)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(fs.readdirSync(temp).length).toBeGreaterThan(0);
    expect(json<BackupRecord[]>(mcpOn(root, ['list', '--json']))).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'backup/archives'))).toEqual([]);

    const next = json<BackupRecord>(mcpOn(root, ['create', '--type', 'service', '--services', 'memory', '--json']));
    expect(fs.readdirSync(temp)).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'backup/archives')).sort()).toEqual([next.archive, next.manifest].sort());
  });
});
