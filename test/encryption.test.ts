/**
 * Encrypted backups end to end, with keys made by `age-keygen`: what `mcp backup create` encrypts, the age CLI
 * decrypts and GNU tar reads byte for byte; verify checks the checksum without the key and every file with it; a
 * wrong key or a tampered archive is a clear one-line error; the backup folder shows no file name and no secret;
 * modes hold under umask 000; no passphrase is ever taken from the command line.
 * Needs `age` and `age-keygen` (apt-get install age).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, json, mcpOn, type CliRun } from './helpers/cli.js';
import { makePlatform, STANDARD_YAML } from './helpers/platform.js';
import { snapshotTree, tempDir } from './helpers/tree.js';
import type { BackupRecord, Manifest, ShowResult, VerifyReport } from '../src/index.js';

const PASSPHRASE = 'correct horse battery staple 42';

let keys: string;
let key1: string;
let key2: string;
let r1: string;
let r2: string;

function keygen(name: string): { file: string; recipient: string } {
  const file = path.join(keys, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'pipe' });
  return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
}

beforeAll(() => {
  for (const tool of ['age', 'age-keygen']) {
    if (spawnSync(tool, ['--version']).error) throw new Error(`${tool} is not installed: run apt-get install age`);
  }
  keys = tempDir('mcp-enc-keys-');
  ({ file: key1, recipient: r1 } = keygen('key1.txt'));
  ({ file: key2, recipient: r2 } = keygen('key2.txt'));
});
afterAll(() => fs.rmSync(keys, { recursive: true, force: true }));

function created(run: CliRun): BackupRecord {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return json<BackupRecord>(run);
}

/** Asserts a clean failure: exit code, one line on stderr containing `message`, no stack trace. */
function refused(run: CliRun, code: number, message: string | RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stderr.trim().split('\n'), run.stderr).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  if (typeof message === 'string') expect(run.stderr).toContain(message);
  else expect(run.stderr).toMatch(message);
}

const archivePath = (root: string, name: string) => path.join(root, 'backup/archives', name);

function ageDecrypt(identity: string, file: string): Buffer {
  return execFileSync('age', ['-d', '-i', identity, file], { maxBuffer: 64 << 20 });
}

function tarList(tarGz: Buffer): string[] {
  return execFileSync('tar', ['-tz'], { input: tarGz, encoding: 'utf8' }).trim().split('\n');
}

function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset]! ^= 0x01;
  fs.writeFileSync(file, bytes);
}

/** Every file under `dir`, recursively (binary content). */
function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((rel) => path.join(dir, rel)).filter((p) => fs.lstatSync(p).isFile());
}

/** Binary-safe search: the files under `dir` that contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8');
  return allFiles(dir).filter((file) => fs.readFileSync(file).includes(bytes));
}

/** `mcp backup --platform root ...` under `umask 000`. */
function mcpUmask000(root: string, args: string[], env: Record<string, string> = {}): CliRun {
  const run = spawnSync('sh', ['-c', 'umask 000 && exec "$@"', 'sh', process.execPath, BIN, 'backup', '--platform', root, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

function withEncryptionYaml(root: string, encryption: string): void {
  fs.writeFileSync(path.join(root, 'platform.yaml'), `${STANDARD_YAML}backup:\n  encryption: ${encryption}\n`);
}

describe('public-key encryption (--recipient)', () => {
  let root: string;
  let record: BackupRecord;
  let extracted: string;

  beforeAll(() => {
    root = makePlatform();
    record = created(mcpOn(root, ['create', '--type', 'full', '--recipient', r1, '--description', 'sealed', '--json']));
    extracted = tempDir();
  });
  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(extracted, { recursive: true, force: true });
  });

  it('writes <id>.tar.gz.age and <id>.manifest.json.gz.age, recorded as encrypted to recipients', () => {
    expect(record.archive).toBe(`${record.id}.tar.gz.age`);
    expect(record.manifest).toBe(`${record.id}.manifest.json.gz.age`);
    expect(record.encryption).toEqual({ mode: 'recipients' });
    expect(fs.readFileSync(archivePath(root, record.archive)).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(fs.statSync(archivePath(root, record.archive)).size).toBe(record.size);
    const listed = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    expect(listed[0]!.encryption.mode).toBe('recipients');
    expect(mcpOn(root, ['list']).stdout).toMatch(/\byes\b/);
  });

  it('the age CLI decrypts it and GNU tar lists and extracts it byte for byte', () => {
    const tarGz = ageDecrypt(key1, archivePath(root, record.archive));
    const listing = tarList(tarGz);
    expect(listing).toContain('filesystem/volumes/data/README.md');
    expect(listing).toContain('_backup/manifest.json');
    execFileSync('tar', ['-xz', '-C', extracted], { input: tarGz });
    const excluded = (rel: string) => rel === 'draft.tmp' || rel.startsWith('cache/');
    expect(snapshotTree(path.join(extracted, 'filesystem/volumes/data'))).toEqual(
      snapshotTree(path.join(root, 'services/filesystem/data'), { skip: excluded }),
    );
    expect(snapshotTree(path.join(extracted, 'git/volumes/repos'))).toEqual(snapshotTree(path.join(root, 'services/git/repos')));
    // The manifest copy is age(gzip(JSON)) and says the same as the archive's own.
    const copy = JSON.parse(gunzipSync(ageDecrypt(key1, archivePath(root, record.manifest))).toString()) as Manifest;
    expect(copy).toEqual(JSON.parse(fs.readFileSync(path.join(extracted, '_backup/manifest.json'), 'utf8')));
    expect(copy.id).toBe(record.id);
  });

  it('a key it was not encrypted to cannot open it', () => {
    const run = spawnSync('age', ['-d', '-i', key2, archivePath(root, record.archive)]);
    expect(run.status).not.toBe(0);
  });

  it('verify without the key checks the checksum only, and says so', () => {
    const run = mcpOn(root, ['verify', record.id]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ok      ${record.id}: encrypted archive matches its SHA-256 (pass --identity or the passphrase to check every file)`);
    const [report] = json<VerifyReport[]>(mcpOn(root, ['verify', record.id, '--json']));
    expect(report).toMatchObject({ ok: true, contentChecked: false, checkedEntries: 0 });
  });

  it('verify with the key checks every file', () => {
    const [report] = json<VerifyReport[]>(mcpOn(root, ['verify', record.id, '--identity', key1, '--json']));
    expect(report).toMatchObject({ ok: true, contentChecked: true, problems: [] });
    expect(report!.checkedEntries).toBe(record.entries);
    expect(report!.checkedBytes).toBe(record.storedBytes);
    const human = mcpOn(root, ['verify', '--all', '--identity', key1]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`ok\\s+${record.id}: ${record.entries} entries`));
  });

  it('verify with the wrong identity fails in one line that says no identity matches, and calls nothing broken', () => {
    const run = mcpOn(root, ['verify', record.id, '--identity', key2]);
    refused(run, 1, `cannot decrypt manifest ${record.manifest}: no identity matches its recipients`);
    expect(run.stdout).not.toContain('BROKEN');
    expect(run.stderr).not.toContain('AGE-SECRET-KEY');
  });

  it('show --files needs the key, and lists the files with it', () => {
    refused(mcpOn(root, ['show', record.id, '--files']), 1, 'is encrypted to public keys: pass --identity FILE');
    const shown = json<ShowResult>(mcpOn(root, ['show', record.id, '--files', '--identity', key1, '--json']));
    expect(shown.manifest!.entries.some((e) => e.path === 'filesystem/volumes/data/README.md')).toBe(true);
    // Without --files, show reads only the index and needs no key.
    expect(mcpOn(root, ['show', record.id]).stdout).toContain('encryption:    recipients');
  });

  it('the backup folder names no file of the platform, and holds no key', () => {
    const backupDir = path.join(root, 'backup');
    const stop = new Set(['services', 'config', 'volumes', 'data', 'logs', 'filesystem', 'git', 'memory', 'description', 'repos']);
    const names = new Set<string>();
    for (const rel of Object.keys(snapshotTree(path.join(root, 'services')))) {
      const name = path.basename(rel);
      if (name.length >= 5 && !stop.has(name)) names.add(name);
    }
    expect(names.size).toBeGreaterThan(20);
    for (const name of names) expect(filesContaining(backupDir, name), name).toEqual([]);
    expect(filesContaining(backupDir, root)).toEqual([]);
    expect(filesContaining(backupDir, 'platform.yaml')).toEqual([]);
    for (const secret of [r1, 'AGE-SECRET-KEY', fs.readFileSync(key1, 'utf8').match(/AGE-SECRET-KEY-\S+/)![0]]) {
      expect(filesContaining(backupDir, secret)).toEqual([]);
    }
    expect(fs.readdirSync(path.join(backupDir, 'temp'))).toEqual([]);
  });

  it('the index record holds what listing needs and nothing of the key', () => {
    const text = fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8');
    expect(text).not.toContain(r1);
    expect(text).not.toMatch(/age1|AGE-SECRET|"recipients"\s*:\s*\[/i);
    const { backups } = JSON.parse(text) as { backups: BackupRecord[] };
    expect(backups[0]!.encryption).toEqual({ mode: 'recipients' });
  });

  it('tampered ciphertext: verify without the key reports the checksum, with the key the decryption failure', () => {
    const file = archivePath(root, record.archive);
    const original = fs.readFileSync(file);
    try {
      flipByte(file, Math.floor(original.length / 2));
      const plain = mcpOn(root, ['verify', record.id]);
      expect(plain.code).toBe(1);
      expect(plain.stdout).toMatch(new RegExp(`BROKEN\\s+${record.id}`));
      expect(plain.stdout).toContain('does not match its SHA-256 in the index');
      const keyed = mcpOn(root, ['verify', record.id, '--identity', key1]);
      expect(keyed.code).toBe(1);
      expect(keyed.stdout).toContain('does not match its SHA-256 in the index');
      expect(keyed.stdout).toMatch(/authentication failed|truncated|altered/);
      expect(keyed.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('tampered ciphertext whose checksum was updated in the index is still caught by authentication', () => {
    const file = archivePath(root, record.archive);
    const indexFile = path.join(root, 'backup/metadata.json');
    const [original, originalIndex] = [fs.readFileSync(file), fs.readFileSync(indexFile, 'utf8')];
    try {
      flipByte(file, original.length - 40);
      const sha = execFileSync('sha256sum', [file], { encoding: 'utf8' }).slice(0, 64);
      fs.writeFileSync(indexFile, originalIndex.replace(record.sha256, sha));
      const run = mcpOn(root, ['verify', record.id, '--identity', key1]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(new RegExp(`BROKEN\\s+${record.id}`));
      expect(run.stdout).not.toContain('does not match its SHA-256');
      expect(run.stdout).toMatch(/authentication failed/);
    } finally {
      fs.writeFileSync(file, original);
      fs.writeFileSync(indexFile, originalIndex);
    }
  });

  it('a damaged recipient stanza is reported as damage, not as a wrong key', () => {
    const file = archivePath(root, record.archive);
    const original = fs.readFileSync(file);
    try {
      // Inside the X25519 stanza's wrapped file key, which then fails to unwrap like a wrong key would.
      flipByte(file, original.indexOf('\n-> X25519 ') + 70);
      const run = mcpOn(root, ['verify', record.id, '--identity', key1]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(new RegExp(`BROKEN\\s+${record.id}`));
      expect(run.stdout).toContain('does not match its SHA-256 in the index');
    } finally {
      fs.writeFileSync(file, original);
    }
  });
});

describe('recipients from a file and from platform.yaml', () => {
  it('--recipients-file encrypts to every key in it', () => {
    const root = makePlatform();
    const file = path.join(keys, 'team.pub');
    fs.writeFileSync(file, `# backup keys\n${r1}\n\n${r2}\n`);
    const record = created(mcpOn(root, ['create', '--type', 'service', '--services', 'memory', '--recipients-file', file, '--json']));
    expect(record.encryption.mode).toBe('recipients');
    for (const key of [key1, key2]) expect(tarList(ageDecrypt(key, archivePath(root, record.archive)))).toContain('memory/volumes/data/memory.json');
  });

  it('platform.yaml backup.encryption.recipients encrypts every backup; --no-encrypt overrides it', () => {
    const root = makePlatform();
    withEncryptionYaml(root, `{ recipients: [${r2}] }`);
    const sealed = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    expect(sealed.archive).toMatch(/\.tar\.gz\.age$/);
    expect(tarList(ageDecrypt(key2, archivePath(root, sealed.archive)))).toContain('_platform/platform.yaml');
    const plain = created(mcpOn(root, ['create', '--type', 'full', '--no-encrypt', '--json']));
    expect(plain.archive).toBe(`${plain.id}.tar.gz`);
    expect(plain.encryption).toEqual({ mode: 'none' });
    expect(tarList(fs.readFileSync(archivePath(root, plain.archive)))).toContain('_platform/platform.yaml');
    refused(mcpOn(root, ['create', '--type', 'full', '--no-encrypt', '--recipient', r1]), 2, '--no-encrypt contradicts --recipient');
  });

  it('platform.yaml backup.encryption.recipients_file, relative to the platform root', () => {
    const root = makePlatform();
    fs.mkdirSync(path.join(root, 'keys'));
    fs.writeFileSync(path.join(root, 'keys/backup.pub'), `${r1}\n`);
    withEncryptionYaml(root, '{ recipients_file: keys/backup.pub }');
    const record = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    expect(record.encryption.mode).toBe('recipients');
    expect(tarList(ageDecrypt(key1, archivePath(root, record.archive)))).toContain('git/config/config.json');
    expect(mcpOn(root, ['verify', record.id, '--identity', key1]).code).toBe(0);
  });

  it('a private key given as a recipient is refused without being echoed', () => {
    const root = makePlatform();
    const secret = fs.readFileSync(key1, 'utf8').match(/AGE-SECRET-KEY-\S+/)![0];
    const run = mcpOn(root, ['create', '--type', 'full', '--recipient', secret]);
    refused(run, 2, 'is a private key');
    expect(run.stderr).not.toContain(secret);
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
  });
});

describe('incrementals over an encrypted base', () => {
  it('need no secret while this host caches the base manifest, and --identity once the cache is gone', () => {
    const root = makePlatform();
    const full = created(mcpOn(root, ['create', '--type', 'full', '--recipient', r1, '--json']));
    fs.writeFileSync(path.join(root, 'services/memory/data/memory.json'), '{"type":"entity","name":"Grace"}\n');
    const first = created(mcpOn(root, ['create', '--type', 'incremental', '--recipient', r1, '--json']));
    expect(first).toMatchObject({ parent: full.id, storedFiles: 1, encryption: { mode: 'recipients' } });

    // The cache lives on the host, beside the platform, never in the backup folder that is copied elsewhere.
    const cache = path.join(root, '.mcp-backup-cache');
    expect(fs.readdirSync(path.join(cache, 'manifests')).length).toBe(2);
    fs.rmSync(cache, { recursive: true });
    fs.writeFileSync(path.join(root, 'services/memory/data/memory.json'), '{"type":"entity","name":"Linus"}\n');
    const before = snapshotTree(path.join(root, 'backup'), { mtimes: true });
    refused(mcpOn(root, ['create', '--type', 'incremental', '--recipient', r1]), 1, /is encrypted and this host has no plain copy of its manifest: pass --identity FILE/);
    expect(snapshotTree(path.join(root, 'backup'), { mtimes: true })).toEqual(before);

    refused(mcpOn(root, ['create', '--type', 'incremental', '--recipient', r1, '--identity', key2]), 1, 'no identity matches');
    const second = created(mcpOn(root, ['create', '--type', 'incremental', '--recipient', r1, '--identity', key1, '--json']));
    expect(second).toMatchObject({ parent: first.id, storedFiles: 1 });
    const verified = json<VerifyReport[]>(mcpOn(root, ['verify', '--all', '--identity', key1, '--json']));
    expect(verified.map((r) => r.ok)).toEqual([true, true, true]);
  });
});

describe('restore of a backup encrypted to a public key', () => {
  let root: string;
  let record: BackupRecord;
  const target = () => path.join(keys, `target-${Math.random().toString(36).slice(2)}`);
  /** Everything of the platform a failed restore must leave as it was: all but backup/temp/. */
  const platformState = () => snapshotTree(root, { mtimes: true, skip: (rel) => rel.startsWith('backup/temp') });

  beforeAll(() => {
    root = makePlatform();
    record = created(mcpOn(root, ['create', '--type', 'full', '--recipient', r1, '--json']));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('with the right identity, --target gives the files byte for byte, with modes and mtimes (its own folders 0700 under umask 000)', () => {
    const dir = target();
    const run = mcpUmask000(root, ['restore', record.id, '--target', dir, '--identity', key1, '--yes']);
    expect(run.code, run.stderr).toBe(0);
    for (const own of ['.', 'filesystem', 'filesystem/volumes', 'memory/config']) expect(fs.statSync(path.join(dir, own)).mode & 0o777).toBe(0o700);
    const excluded = (rel: string) => rel === 'draft.tmp' || rel.startsWith('cache/');
    expect(snapshotTree(path.join(dir, 'filesystem/volumes/data'), { mtimes: true })).toEqual(
      snapshotTree(path.join(root, 'services/filesystem/data'), { mtimes: true, skip: excluded }),
    );
    expect(snapshotTree(path.join(dir, 'git/volumes/repos'), { mtimes: true })).toEqual(snapshotTree(path.join(root, 'services/git/repos'), { mtimes: true }));
    expect(snapshotTree(path.join(dir, 'memory'), { mtimes: true })).toEqual({
      config: expect.any(Object) as unknown,
      'config/config': expect.any(Object) as unknown,
      'config/config/server.json': snapshotTree(path.join(root, 'services/memory/config'), { mtimes: true })['server.json'],
      volumes: expect.any(Object) as unknown,
      'volumes/data': expect.any(Object) as unknown,
      'volumes/data/memory.json': snapshotTree(path.join(root, 'services/memory/data'), { mtimes: true })['memory.json'],
    });
  });

  it('without a key, or with the wrong one, fails in one line and changes nothing', () => {
    fs.writeFileSync(path.join(root, 'services/memory/data/memory.json'), '{"changed": true}\n');
    const before = platformState();
    refused(mcpOn(root, ['restore', record.id, '--yes']), 1, 'is encrypted to public keys: pass --identity FILE');
    refused(mcpOn(root, ['restore', record.id, '--identity', key2, '--yes']), 1, 'no identity matches its recipients');
    const dir = target();
    refused(mcpOn(root, ['restore', record.id, '--target', dir, '--identity', key2, '--yes']), 1, 'no identity matches');
    expect(fs.existsSync(dir)).toBe(false);
    expect(platformState()).toEqual(before);
  });

  it('tampered ciphertext changes nothing, whether or not the index was made to agree', () => {
    const file = archivePath(root, record.archive);
    const indexFile = path.join(root, 'backup/metadata.json');
    const [original, originalIndex] = [fs.readFileSync(file), fs.readFileSync(indexFile, 'utf8')];
    try {
      flipByte(file, original.length - 100);
      let before = platformState();
      refused(mcpOn(root, ['restore', record.id, '--identity', key1, '--yes']), 1, 'does not match its SHA-256 in the index');
      expect(platformState()).toEqual(before);
      const sha = execFileSync('sha256sum', [file], { encoding: 'utf8' }).slice(0, 64);
      fs.writeFileSync(indexFile, originalIndex.replace(record.sha256, sha));
      before = platformState();
      refused(mcpOn(root, ['restore', record.id, '--identity', key1, '--yes']), 1, /authentication failed|altered/);
      expect(platformState()).toEqual(before);
    } finally {
      fs.writeFileSync(file, original);
      fs.writeFileSync(indexFile, originalIndex);
    }
  });

  it('in place with the right identity restores, and its safety backup is encrypted too: still no file name in the backup folder', () => {
    fs.writeFileSync(path.join(root, 'services/memory/data/memory.json'), '{"changed": "again"}\n');
    const run = mcpOn(root, ['restore', record.id, '--identity', key1, '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'services/memory/data/memory.json'), 'utf8')).toBe('{"type":"entity","name":"Ada"}\n');
    const records = json<BackupRecord[]>(mcpOn(root, ['list', '--json']));
    expect(records).toHaveLength(2);
    for (const r of records) expect(r.encryption.mode).toBe('recipients');
    for (const name of fs.readdirSync(path.join(root, 'backup/archives'))) expect(name).toMatch(/\.age$/);
    for (const name of ['memory.json', 'README.md', 'server.json', 'report.pdf']) expect(filesContaining(path.join(root, 'backup'), name), name).toEqual([]);
    expect(filesContaining(path.join(root, 'backup'), '"changed"')).toEqual([]);
  });
});

describe('passphrase encryption (MCP_BACKUP_PASSPHRASE)', () => {
  let root: string;
  let record: BackupRecord;
  let create: CliRun;

  beforeAll(() => {
    // A hook that dumps its environment: the passphrase must not be in it.
    root = makePlatform({ yaml: `${STANDARD_YAML}    hooks:\n      pre_backup: "env > hook-env.txt"\n` });
    create = mcpUmask000(root, ['create', '--type', 'full', '--encrypt', '--json'], { MCP_BACKUP_PASSPHRASE: PASSPHRASE });
    record = created(create);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('is recorded as passphrase-encrypted, and the passphrase is nowhere: not printed, not in the backup folder', () => {
    expect(record.encryption).toEqual({ mode: 'passphrase' });
    expect(create.stdout + create.stderr).not.toContain(PASSPHRASE);
    expect(filesContaining(path.join(root, 'backup'), PASSPHRASE)).toEqual([]);
    expect(filesContaining(path.join(root, '.mcp-backup-cache'), PASSPHRASE)).toEqual([]);
    expect(filesContaining(path.join(root, 'backup'), 'README.md')).toEqual([]);
    expect(fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8')).not.toMatch(/passphrase"\s*:\s*"/);
    const hookEnv = fs.readFileSync(path.join(root, 'hook-env.txt'), 'utf8');
    expect(hookEnv).toContain(`MCP_BACKUP_ID=${record.id}`);
    expect(hookEnv).not.toContain(PASSPHRASE);
  });

  it('verify with the passphrase checks every file; a wrong passphrase is a one-line error that says so', () => {
    const [report] = json<VerifyReport[]>(mcpOn(root, ['verify', record.id, '--json'], { env: { MCP_BACKUP_PASSPHRASE: PASSPHRASE } }));
    expect(report).toMatchObject({ ok: true, contentChecked: true, checkedEntries: record.entries });
    const wrong = mcpOn(root, ['verify', record.id], { env: { MCP_BACKUP_PASSPHRASE: 'not it' } });
    refused(wrong, 1, `cannot decrypt manifest ${record.manifest}: wrong passphrase`);
    expect(wrong.stderr + wrong.stdout).not.toContain('not it');
    refused(mcpOn(root, ['show', record.id, '--files']), 1, 'is encrypted with a passphrase: set MCP_BACKUP_PASSPHRASE');
  });

  it('restore with the passphrase is byte-exact; with a wrong one it is a one-line error and nothing is written', () => {
    const dir = path.join(keys, 'passphrase-target');
    const wrong = mcpOn(root, ['restore', record.id, '--target', dir, '--yes'], { env: { MCP_BACKUP_PASSPHRASE: 'not it' } });
    refused(wrong, 1, 'wrong passphrase');
    expect(fs.existsSync(dir)).toBe(false);
    const run = mcpOn(root, ['restore', record.id, '--target', dir, '--yes'], { env: { MCP_BACKUP_PASSPHRASE: PASSPHRASE } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(PASSPHRASE);
    expect(snapshotTree(path.join(dir, 'git/volumes/repos'), { mtimes: true })).toEqual(snapshotTree(path.join(root, 'services/git/repos'), { mtimes: true }));
  });

  it('an identity file does not open a passphrase backup, and the error says what it needs', () => {
    const run = mcpOn(root, ['verify', record.id, '--identity', key1]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/passphrase/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('everything written is 0600 and every folder 0700, even under umask 000', () => {
    const schedule = mcpUmask000(root, ['schedule', '0 2 * * *', '--type', 'full', '--quiet']);
    expect(schedule.code, schedule.stderr).toBe(0);
    expect(fs.statSync(path.join(root, 'backup/schedules.json')).mode & 0o777).toBe(0o600);
    const modes = (dir: string) =>
      [dir, ...fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((rel) => path.join(dir, rel))].map((p) => {
        const stat = fs.lstatSync(p);
        return [path.relative(root, p), stat.isDirectory() ? 'dir' : 'file', (stat.mode & 0o777).toString(8)];
      });
    for (const dir of [path.join(root, 'backup'), path.join(root, '.mcp-backup-cache')]) {
      for (const [rel, type, mode] of modes(dir)) expect(`${rel} ${mode}`).toBe(`${rel} ${type === 'dir' ? '700' : '600'}`);
    }
  });
});

describe('no secret on the command line', () => {
  it('there is no --passphrase option on any command', () => {
    const root = makePlatform();
    for (const args of [
      ['create', '--type', 'full', '--passphrase', 'hunter2'],
      ['verify', '--all', '--passphrase', 'hunter2'],
      ['show', 'x', '--passphrase', 'hunter2'],
    ]) {
      refused(mcpOn(root, args), 2, "unknown option '--passphrase'");
    }
    for (const command of ['create', 'verify', 'show', 'list']) {
      expect(mcpOn(root, [command, '--help']).stdout).not.toMatch(/--passphrase|--password|--key\b/);
    }
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
  });

  it('--encrypt with no recipient and no passphrase says how to give a key', () => {
    const root = makePlatform();
    refused(mcpOn(root, ['create', '--type', 'full', '--encrypt']), 1, '--encrypt needs a key: pass --recipient age1...');
    expect(fs.existsSync(path.join(root, 'backup'))).toBe(false);
  });
});

describe('a looser mode found on an existing file', () => {
  it('is reported by list and verify, which change nothing, and tightened (and reported) by the next backup', () => {
    const root = makePlatform();
    const first = created(mcpOn(root, ['create', '--type', 'full', '--json']));
    const at = (rel: string) => path.join(root, 'backup', rel);
    const mode = (rel: string) => (fs.statSync(at(rel)).mode & 0o777).toString(8);
    fs.chmodSync(at('.'), 0o755);
    fs.chmodSync(at('archives'), 0o775);
    fs.chmodSync(at('metadata.json'), 0o644);
    fs.chmodSync(at(`archives/${first.archive}`), 0o640);
    const loose = () => [mode('.'), mode('archives'), mode('metadata.json'), mode(`archives/${first.archive}`)];
    expect(loose()).toEqual(['755', '775', '644', '640']);

    const list = mcpOn(root, ['list']);
    expect(list.code).toBe(0);
    expect(list.stderr).toContain(`warning: folder ${at('.').replace(/\/\.$/, '')} is open to other users (mode 0755): the next backup tightens it to 0700`);
    expect(list.stderr).toContain(`warning: folder ${at('archives')} is open to other users (mode 0775)`);
    expect(list.stderr).toContain(`warning: file ${at('metadata.json')} is open to other users (mode 0644): the next backup tightens it to 0600, or run chmod 600 ${at('metadata.json')}`);
    expect(json<BackupRecord[]>(mcpOn(root, ['list', '--json'])).map((r) => r.id)).toEqual([first.id]);
    const verify = mcpOn(root, ['verify', '--all']);
    expect(verify.code).toBe(0);
    expect(verify.stderr).toContain(`archive ${first.archive} is open to other users (mode 0640)`);
    expect(verify.stderr).toContain(`file ${at('metadata.json')} is open to other users`);
    expect(loose()).toEqual(['755', '775', '644', '640']);

    const second = mcpOn(root, ['create', '--type', 'full', '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`is open to other users (mode 0755): tightened to 0700`);
    expect(second.stderr).toContain(`file ${at('metadata.json')} is open to other users (mode 0644): tightened to 0600`);
    expect(second.stderr).toContain(`file ${at(`archives/${first.archive}`)} is open to other users (mode 0640): tightened to 0600`);
    expect(loose()).toEqual(['700', '700', '600', '600']);
    expect(mcpOn(root, ['list']).stderr).toBe('');
    expect(mcpOn(root, ['create', '--type', 'full', '--quiet']).stderr).toBe('');
  });
});
