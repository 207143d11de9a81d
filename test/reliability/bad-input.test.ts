/**
 * Bad input sweep, extending test/bad-input.test.ts (create, list, show, verify, platform.yaml mistakes) to restore,
 * cleanup, delete, index, schedule, daemon and services: each invalid value and unknown id gets a one-line error,
 * a non-zero exit code, no stack trace, and changes nothing. Plus empty and huge (100 KB) descriptions, a file name
 * that is not UTF-8, and each kind of platform.yaml mistake for the commands the other file does not try.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, json, mcpOn } from '../helpers/cli.js';
import { makePlatform, STANDARD_YAML } from '../helpers/platform.js';
import { snapshotTree } from '../helpers/tree.js';
import { cleanError, Tally } from './matrix.js';
import type { BackupRecord } from '../../src/index.js';

const tally = new Tally('bad-input');
const work: string[] = [];
let root: string;
let id: string;

beforeAll(() => {
  root = makePlatform();
  work.push(root);
  id = json<BackupRecord>(mcpOn(root, ['create', '--type', 'full', '--json'])).id;
  expect(mcpOn(root, ['schedule', '0 2 * * *', '--type', 'full']).code).toBe(0);
});

afterAll(() => {
  tally.summary();
  for (const dir of work) fs.rmSync(dir, { recursive: true, force: true });
});

/** Refused: the exit code, one line on stderr (matching), nothing changed anywhere in the platform. */
function refusedCleanly(dir: string, args: string[], code: number, message: RegExp, category: string): void {
  // The mtimes of backup/ and backup/temp/ may move: a command may take (and drop) the index lock or a workspace
  // lease before it finds the mistake. What is in them must stay as it was.
  const snap = () => {
    const s = snapshotTree(dir, { mtimes: true });
    for (const key of ['backup', 'backup/temp']) if (s[key]) delete s[key].mtimeMs;
    return s;
  };
  const before = snap();
  const run = mcpOn(dir, args.map((a) => (a === 'HUGE' ? HUGE : a)));
  const ok = run.code === code && cleanError(run) && message.test(run.stderr);
  expect(ok, `${args.join(' ')} -> ${run.code}: ${run.stderr}`).toBe(true);
  expect(snap(), `${args.join(' ')} changed files`).toEqual(before);
  tally.record(category, ok);
}

const HUGE = 'x'.repeat(100_000);

describe('invalid option values and unknown ids', () => {
  const cases: [string[], number, RegExp][] = [
    [['restore', 'nope', '--yes'], 1, /no backup with id nope: see `mcp backup list`/],
    [['restore'], 2, /missing required argument 'id'/],
    [['restore', 'ID', '--services', 'postgres', '--yes'], 2, /does not hold service postgres/],
    [['restore', 'ID', '--bogus'], 2, /unknown option '--bogus'/],
    [['restore', 'ID', '--identity', '/nonexistent/key.txt', '--yes'], 2, /identity file \/nonexistent\/key\.txt does not exist/],
    [['cleanup', '--keep', '-1'], 2, /--keep must be a whole number/],
    [['cleanup', '--keep', 'ten'], 2, /--keep must be a whole number/],
    [['cleanup', '--days', '1.5'], 2, /--days must be a whole number/],
    [['cleanup', '--bogus'], 2, /unknown option '--bogus'/],
    [['delete'], 2, /missing required argument 'id'/],
    [['delete', 'nope'], 1, /no backup with id nope/],
    [['delete', '19990101T000000Z-full-0000', '--with-dependents'], 1, /no backup with id 19990101T000000Z-full-0000/],
    [['index', 'frob'], 2, /unknown command 'frob'/],
    [['index', 'rebuild', '--bogus'], 2, /unknown option '--bogus'/],
    [['schedule', 'bogus', '--type', 'full'], 2, /invalid cron expression "bogus"/],
    [['schedule', '61 * * * *', '--type', 'full'], 2, /cron/],
    [['schedule', '0 2 * * *', '--type', 'weekly'], 2, /--type must be one of full, incremental, service/],
    [['schedule', '0 2 * * *', '--type', 'full', '--keep', 'x'], 2, /--keep must be a whole number/],
    [['schedule', '0 2 * * *', '--type', 'full', '--days', '-1'], 2, /--days must be a whole number/],
    [['schedule', '0 2 * * *', '--type', 'full', '--timezone', 'Mars/Base'], 2, /unknown timezone "Mars\/Base"/],
    [['schedule', '0 2 * * *', '--type', 'full', '--compression-level', '0'], 2, /--compression-level must be a whole number from 1 to 9/],
    [['schedule', '0 2 * * *', '--type', 'service', '--services', 'postgres'], 2, /unknown service postgres/],
    [['schedule', '0 2 * * *', '--type', 'full', '--encrypt', '--recipient', 'notakey'], 2, /not an age public key/],
    [['schedule', '0 2 * * *', '--type', 'full', '--description', 'HUGE'], 2, /--description is 100000 characters long: at most 4096/],
    [['schedule', 'delete', 'nope'], 1, /no schedule with id nope/],
    [['schedule', 'run', 'nope'], 1, /no schedule with id nope/],
    [['schedule', 'list', '--bogus'], 2, /unknown option '--bogus'/],
    [['daemon', '--bogus'], 2, /unknown option '--bogus'/],
    [['services', '--bogus'], 2, /unknown option '--bogus'/],
    [['create', '--type', 'full', '--description', 'HUGE'], 2, /--description is 100000 characters long: at most 4096/],
    [['create', '--type', 'full', '--compression-level', '10'], 2, /--compression-level must be a whole number from 1 to 9/],
    [['create', '--type', 'full', '--encrypt', '--recipient', 'age1nope'], 2, /is not a valid age public key/],
    [['verify'], 2, /name a backup id to verify, or pass --all/],
  ];
  it.each(cases)('%j', (args, code, message) => {
    refusedCleanly(root, args.map((a) => (a === 'ID' ? id : a)), code, message, 'invalid values and unknown ids refused');
  });
});

describe('descriptions', () => {
  it('a 100 KB description is refused without echoing it (regression: accepted, and every `list` then printed it)', () => {
    const run = mcpOn(root, ['create', '--type', 'full', '--description', HUGE]);
    expect(run.stderr.length).toBeLessThan(200);
  });

  it('an empty description is accepted and stored as no description', () => {
    const run = mcpOn(root, ['create', '--type', 'service', '--services', 'memory', '--description', '', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const record = json<BackupRecord>(run);
    expect(record.description ?? '').toBe('');
    tally.record('empty description handled', true);
  });

  it('`list | head` ends quietly (regression: EPIPE stack trace)', () => {
    for (let i = 0; i < 3; i++) mcpOn(root, ['create', '--type', 'service', '--services', 'memory', '--description', 'd'.repeat(4000)]);
    const r = spawnSync('sh', ['-c', `node ${JSON.stringify(BIN)} backup --platform ${JSON.stringify(root)} list | head -c 10 >/dev/null; echo "exit $?" >&2`], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    tally.record('list piped into head', !/EPIPE|\n\s+at /.test(r.stderr));
  });
});

describe('non-UTF-8 names and platform.yaml mistakes, for the other commands', () => {
  it('a file name that is not UTF-8 in a restored folder does not break restore or verify', () => {
    const dir = makePlatform();
    work.push(dir);
    const backup = json<BackupRecord>(mcpOn(dir, ['create', '--type', 'full', '--json']));
    const data = path.join(dir, 'services/filesystem/data');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${data}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'x');
    const dry = mcpOn(dir, ['restore', backup.id, '--dry-run']);
    const ok = (dry.code === 0 || cleanError(dry)) && !/\n\s+at /.test(dry.stderr);
    expect(ok, dry.stderr).toBe(true);
    expect(mcpOn(dir, ['verify', backup.id]).code).toBe(0);
    tally.record('non-UTF-8 names handled', ok);
  });

  const yamls: [string, string, RegExp][] = [
    ['an unknown field', STANDARD_YAML.replace('    exclude:', '    excludes:'), /platform\.yaml:7: services\.filesystem: unknown field "excludes"/],
    ['a wrong type', STANDARD_YAML.replace('volumes: [services/git/repos]', 'volumes: 42'), /platform\.yaml:10: services\.git\.volumes/],
    ['broken YAML', STANDARD_YAML.replace('  git:\n', '  git: [\n'), /platform\.yaml:\d+: invalid YAML/],
    ['no services', 'name: empty\nservices: {}\n', /platform\.yaml:2: services: must name at least one service/],
    ['a bad compression level', `${STANDARD_YAML}backup:\n  compression: { level: 12 }\n`, /platform\.yaml:\d+: backup\.compression\.level/],
    ['a bad retention', `${STANDARD_YAML}backup:\n  retention: { days: -3 }\n`, /platform\.yaml:\d+: backup\.retention\.days/],
  ];
  const commands: string[][] = [['restore', 'ID', '--yes'], ['cleanup'], ['delete', 'ID'], ['schedule', '0 2 * * *', '--type', 'full'], ['schedule', 'list'], ['services'], ['daemon'], ['verify', '--all']];
  it.each(yamls)('platform.yaml with %s: every command refuses with file, line and field', (_name, yaml, message) => {
    const dir = makePlatform();
    work.push(dir);
    const backup = json<BackupRecord>(mcpOn(dir, ['create', '--type', 'full', '--json']));
    fs.writeFileSync(path.join(dir, 'platform.yaml'), yaml);
    for (const args of commands) refusedCleanly(dir, args.map((a) => (a === 'ID' ? backup.id : a)), 1, message, 'platform.yaml mistakes refused');
  });
});

it('the figures', () => {
  const refused = tally.count('invalid values and unknown ids refused');
  expect(refused.passed).toBe(refused.total);
});
