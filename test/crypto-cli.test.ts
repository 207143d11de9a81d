/**
 * No lock-in: what src/crypto writes, the age command-line tool decrypts (and GNU tar then reads), and what the age
 * CLI writes, src/crypto decrypts. Keys are made by `age-keygen`; passphrases are typed into `age` through a
 * pseudo-terminal made by util-linux `script`, since age reads them only from a terminal.
 * Needs `age`, `age-keygen` (apt-get install age) and `script` (util-linux): missing tools fail the suite.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestStream } from '../src/archive/digest.js';
import { ParallelGzip } from '../src/archive/parallel-gzip.js';
import {
  createDecryptStream,
  createEncryptStream,
  decryptBuffer,
  encryptBuffer,
  readIdentityFile,
  readRecipientsFile,
  recipientOf,
} from '../src/crypto/index.js';
import { isBackupError } from '../src/errors.js';

const PASSPHRASE = 'tr0ub4dor & 3 horses';

let dir: string;
let key1: string;
let key2: string;
let r1: string;
let r2: string;

function tool(name: string): void {
  const found = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (found.error) throw new Error(`${name} is not installed: run apt-get install ${name === 'script' ? 'util-linux' : 'age'}`);
}

function keygen(name: string): { file: string; recipient: string } {
  const file = path.join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'pipe' });
  return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
}

function pattern(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = (i * 151 + (i >> 9)) & 0xff;
  return data;
}

function write(name: string, data: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

/** `age -d -i identity file`, returning the plaintext. */
function ageDecrypt(identityFile: string, file: string): Buffer {
  return execFileSync('age', ['-d', '-i', identityFile, file], { maxBuffer: 64 << 20 });
}

/** Runs `age` on a pseudo-terminal, typing `lines` at its passphrase prompts. */
function ageOnTerminal(args: string[], lines: string[]): { status: number | null; output: string } {
  const command = ['age', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const run = spawnSync('script', ['-qec', command, '/dev/null'], { input: lines.map((l) => `${l}\n`).join(''), encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: run.stdout + run.stderr };
}

beforeAll(async () => {
  for (const name of ['age', 'age-keygen', 'script']) tool(name);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-crypto-cli-'));
  ({ file: key1, recipient: r1 } = keygen('key1.txt'));
  ({ file: key2, recipient: r2 } = keygen('key2.txt'));
  // Our reading of an age-keygen file gives the public key age-keygen prints.
  expect(await recipientOf((await readIdentityFile(key1))[0] ?? '')).toBe(r1);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('public keys', () => {
  it.each([0, 1, 65_536, 65_537, 1_234_567])('we encrypt %i bytes, age -d decrypts them byte-exact', async (size) => {
    const data = pattern(size);
    const file = write(`ours-${size}.age`, await encryptBuffer({ mode: 'recipients', recipients: [r1] }, data));
    expect(ageDecrypt(key1, file).equals(data)).toBe(true);
  });

  it.each([0, 65_536, 1_234_567])('age -r encrypts %i bytes, we decrypt them byte-exact', async (size) => {
    const data = pattern(size);
    const input = write(`plain-${size}`, data);
    const file = path.join(dir, `theirs-${size}.age`);
    execFileSync('age', ['-r', r1, '-o', file, input]);
    expect((await decryptBuffer({ identities: await readIdentityFile(key1) }, fs.readFileSync(file))).equals(data)).toBe(true);
  });

  it('several recipients: each identity decrypts, with the CLI and with us', async () => {
    const data = pattern(300_000);
    const ours = write('multi-ours.age', await encryptBuffer({ mode: 'recipients', recipients: [r1, r2] }, data));
    expect(ageDecrypt(key1, ours).equals(data)).toBe(true);
    expect(ageDecrypt(key2, ours).equals(data)).toBe(true);

    // The same recipients file serves `age -R` and readRecipientsFile.
    const recipientsFile = write('backup.pub', Buffer.from(`# backup keys\n${r1}\n\n${r2}\n`));
    expect(await readRecipientsFile(recipientsFile)).toEqual([r1, r2]);
    const theirs = path.join(dir, 'multi-theirs.age');
    execFileSync('age', ['-R', recipientsFile, '-o', theirs, write('multi-plain', data)]);
    for (const key of [key1, key2]) {
      expect((await decryptBuffer({ identities: await readIdentityFile(key) }, fs.readFileSync(theirs))).equals(data)).toBe(true);
    }
  });

  it('wrong identity: the CLI and we both refuse; our message says which and holds no key', async () => {
    const file = path.join(dir, 'for-key1.age');
    execFileSync('age', ['-r', r1, '-o', file, write('small', Buffer.from('hello'))]);
    expect(spawnSync('age', ['-d', '-i', key2, file]).status).not.toBe(0);
    const identities = await readIdentityFile(key2);
    const error = await decryptBuffer({ identities }, fs.readFileSync(file)).catch((e: unknown) => e);
    expect(isBackupError(error, 'DECRYPT_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/no identity matches its recipients/);
    expect((error as Error).message).not.toContain(identities[0]?.slice(16));
  });

  it('the CLI refuses what we refuse: a flipped byte', async () => {
    const sealed = await encryptBuffer({ mode: 'recipients', recipients: [r1] }, pattern(1_100_000));
    sealed[600_000] = (sealed[600_000] ?? 0) ^ 0x80;
    const file = write('tampered.age', sealed);
    const cli = spawnSync('age', ['-d', '-i', key1, '-o', path.join(dir, 'tampered.out'), file], { encoding: 'utf8' });
    expect(cli.status).not.toBe(0);
    const ours = await decryptBuffer({ identities: await readIdentityFile(key1) }, sealed).catch((e: unknown) => e);
    expect(isBackupError(ours, 'DECRYPT_FAILED')).toBe(true);
  });
});

describe('passphrase', () => {
  it('we encrypt (default work factor), age -d decrypts with the passphrase typed on a terminal', async () => {
    const data = pattern(150_000);
    const file = write('pass-ours.age', await encryptBuffer({ mode: 'passphrase', passphrase: PASSPHRASE }, data));
    expect(fs.readFileSync(file, 'latin1')).toMatch(/^age-encryption\.org\/v1\n-> scrypt \S+ 18\n/);
    const out = path.join(dir, 'pass-ours.out');
    expect(ageOnTerminal(['-d', '-o', out, file], [PASSPHRASE]).status).toBe(0);
    expect(fs.readFileSync(out).equals(data)).toBe(true);
    // A wrong passphrase is refused by the CLI too.
    expect(ageOnTerminal(['-d', '-o', path.join(dir, 'pass-wrong.out'), file], ['not it']).status).not.toBe(0);
  });

  it('age -p encrypts, we decrypt; a wrong passphrase says so', async () => {
    const data = pattern(150_000);
    const file = path.join(dir, 'pass-theirs.age');
    const run = ageOnTerminal(['-p', '-o', file, write('pass-plain', data)], [PASSPHRASE, PASSPHRASE]);
    expect(run.status).toBe(0);
    const sealed = fs.readFileSync(file);
    expect((await decryptBuffer({ passphrase: PASSPHRASE }, sealed)).equals(data)).toBe(true);
    const error = await decryptBuffer({ passphrase: 'not it' }, sealed).catch((e: unknown) => e);
    expect(isBackupError(error, 'DECRYPT_FAILED')).toBe(true);
    expect((error as Error).message).toBe('cannot decrypt the archive: wrong passphrase');
  });

  it('the CLI reads a low work factor too (what the test suites use)', async () => {
    const data = Buffer.from('low work factor');
    const file = write('pass-low.age', await encryptBuffer({ mode: 'passphrase', passphrase: PASSPHRASE, workFactor: 10 }, data));
    const out = path.join(dir, 'pass-low.out');
    expect(ageOnTerminal(['-d', '-o', out, file], [PASSPHRASE]).status).toBe(0);
    expect(fs.readFileSync(out).equals(data)).toBe(true);
  });
});

describe('the archive pipeline: tar -> gzip -> age -> SHA-256 -> file', () => {
  const entries: [string, Buffer][] = [
    ['services/git/config.json', Buffer.from('{"repos": ["a", "b"]}\n')],
    ['services/filesystem/volumes/docs/report é.txt', pattern(200_000)],
    ['services/memory/volumes/store.json', Buffer.from(JSON.stringify({ entities: Array.from({ length: 2000 }, (_, i) => ({ id: i })) }))],
  ];
  let archive: string;
  let sha256: string;

  beforeAll(async () => {
    const pack = tarStream.pack();
    archive = path.join(dir, 'backup.tar.gz.age');
    const digest = new DigestStream();
    const written = pipeline(pack, new ParallelGzip({ level: 6 }), createEncryptStream({ mode: 'recipients', recipients: [r1, r2] }), digest, fs.createWriteStream(archive));
    for (const [name, content] of entries) {
      await new Promise<void>((resolve, reject) => pack.entry({ name, size: content.length, mode: 0o600 }, content, (error) => (error ? reject(error) : resolve())));
    }
    pack.finalize();
    await written;
    sha256 = digest.digest();
  });

  it('the checksum is of the encrypted file', () => {
    expect(createHash('sha256').update(fs.readFileSync(archive)).digest('hex')).toBe(sha256);
  });

  it('age -d | tar -tz lists every entry, and tar extracts them byte-exact', () => {
    const listing = execFileSync('sh', ['-c', `age -d -i '${key2}' '${archive}' | tar -tzf -`], { encoding: 'utf8' });
    expect(listing.trim().split('\n')).toEqual(entries.map(([name]) => name));
    const out = fs.mkdtempSync(path.join(dir, 'x-'));
    execFileSync('sh', ['-c', `age -d -i '${key1}' '${archive}' | tar -xzf - -C '${out}'`]);
    for (const [name, content] of entries) expect(fs.readFileSync(path.join(out, name)).equals(content)).toBe(true);
  });

  it('and reads back: file -> SHA-256 -> decrypt -> gunzip -> tar entries', async () => {
    const digest = new DigestStream();
    const extract = tarStream.extract();
    const seen: [string, Buffer][] = [];
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        seen.push([header.name, Buffer.concat(chunks)]);
        next();
      });
    });
    await pipeline(
      fs.createReadStream(archive),
      digest,
      createDecryptStream({ identities: await readIdentityFile(key2) }, { subject: 'archive backup.tar.gz.age' }),
      zlib.createGunzip(),
      extract,
    );
    expect(digest.digest()).toBe(sha256);
    expect(seen.map(([name]) => name)).toEqual(entries.map(([name]) => name));
    seen.forEach(([, content], i) => expect(content.equals(entries[i]?.[1] ?? Buffer.alloc(0))).toBe(true));
  });

  it('no file name is readable in the encrypted archive', () => {
    const bytes = fs.readFileSync(archive).toString('latin1');
    for (const [name] of entries) expect(bytes).not.toContain(path.basename(name).slice(0, 6));
    expect(bytes).not.toContain('services');
  });

  it('a decrypt failure reaches the pipeline as DECRYPT_FAILED, not a gunzip or tar error', async () => {
    const sealed = fs.readFileSync(archive);
    const middle = Math.floor(sealed.length / 2);
    sealed[middle] = (sealed[middle] ?? 0) ^ 1;
    const error = await pipeline(
      Readable.from([sealed]),
      createDecryptStream({ identities: await readIdentityFile(key1) }),
      zlib.createGunzip(),
      new Writable({ write: (_c, _e, cb) => cb() }),
    ).catch((e: unknown) => e);
    expect(isBackupError(error, 'DECRYPT_FAILED')).toBe(true);
  });
});
