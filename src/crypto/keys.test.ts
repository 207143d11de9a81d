import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../errors.js';
import { checkEncryptionKey, parseIdentities, parseRecipients, readIdentityFile, readRecipientsFile, recipientOf } from './keys.js';

let dir: string;
let identity: string;
let recipient: string;
let other: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-crypto-keys-'));
  identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  other = await identityToRecipient(await generateIdentity());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const target = path.join(dir, name);
  writeFileSync(target, text);
  chmodSync(target, mode);
  return target;
}

/** Runs `fn`, expects a BackupError with `code`, and returns it. */
async function failure(fn: () => unknown, code: string): Promise<BackupError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe(code);
    expect((error as BackupError).message).not.toContain('\n');
    return error as BackupError;
  }
  throw new Error('expected a failure');
}

describe('parseRecipients', () => {
  it('accepts a list and a file text with comments, blank lines and duplicates', () => {
    expect(parseRecipients([recipient, ` ${other} `, recipient])).toEqual([recipient, other]);
    expect(parseRecipients(`# backup keys\n\n${recipient}\r\n  # laptop\n${other}\n`, 'keys.pub')).toEqual([recipient, other]);
  });

  it('refuses none', async () => {
    expect((await failure(() => parseRecipients([]), 'USAGE')).message).toContain('--recipient');
    expect((await failure(() => parseRecipients('# nothing\n', 'keys.pub'), 'USAGE')).message).toContain('keys.pub holds no recipient');
  });

  it('refuses a private key without echoing it', async () => {
    const error = await failure(() => parseRecipients([recipient, identity]), 'USAGE');
    expect(error.message).toMatch(/^recipient 2 is a private key/);
    expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain(identity.slice(15));
    const inFile = await failure(() => parseRecipients(`${recipient}\n${identity.toLowerCase()}\n`, 'k.pub'), 'USAGE');
    expect(inFile.message).toMatch(/^k\.pub line 2 is a private key/);
  });

  it('never echoes something that does not look like a public key (it may be a passphrase)', async () => {
    const error = await failure(() => parseRecipients(['correct horse battery staple']), 'USAGE');
    expect(error.message).toBe('recipient 1 is not an age public key: expected age1... as age-keygen prints it');
  });

  it('names SSH, post-quantum and plugin recipients as unsupported', async () => {
    expect((await failure(() => parseRecipients(['ssh-ed25519 AAAAC3Nza user@host']), 'USAGE')).message).toContain('SSH public key');
    expect((await failure(() => parseRecipients([`age1pq1${'q'.repeat(60)}`]), 'USAGE')).message).toContain('post-quantum');
    expect((await failure(() => parseRecipients([`age1yubikey1${'q'.repeat(58)}`]), 'USAGE')).message).toContain('plugin');
  });

  it('refuses a mistyped key', async () => {
    const typo = recipient.slice(0, 20) + (recipient[20] === 'q' ? 'p' : 'q') + recipient.slice(21);
    expect((await failure(() => parseRecipients([typo]), 'USAGE')).message).toMatch(/is not a valid age public key/);
    expect((await failure(() => parseRecipients([recipient.slice(0, -3)]), 'USAGE')).message).toMatch(/is not a valid age public key/);
  });
});

describe('readRecipientsFile', () => {
  it('reads a recipients file', async () => {
    expect(await readRecipientsFile(file('r.pub', `# created by hand\n${recipient}\n${other}\n`))).toEqual([recipient, other]);
  });

  it('refuses a missing file and a folder', async () => {
    expect((await failure(() => readRecipientsFile(path.join(dir, 'nope.pub')), 'USAGE')).message).toMatch(/recipients file .*nope\.pub does not exist/);
    mkdirSync(path.join(dir, 'folder'), { recursive: true });
    expect((await failure(() => readRecipientsFile(path.join(dir, 'folder')), 'USAGE')).message).toMatch(/is a folder/);
  });
});

describe('readIdentityFile', () => {
  const keygen = () => `# created: 2026-11-24T02:00:00Z\n# public key: ${recipient}\n${identity}\n`;

  it('reads the age-keygen format', async () => {
    expect(await readIdentityFile(file('key.txt', keygen()))).toEqual([identity]);
  });

  it('reads several identities', async () => {
    const second = await generateIdentity();
    expect(await readIdentityFile(file('keys.txt', `${identity}\n\n# old key\n${second}\n`))).toEqual([identity, second]);
  });

  it('warns about, but accepts, a file other users can read', async () => {
    const warnings: string[] = [];
    const target = file('loose.txt', keygen(), 0o644);
    expect(await readIdentityFile(target, { onWarning: (m) => warnings.push(m) })).toEqual([identity]);
    expect(warnings).toEqual([`identity file ${target} is open to other users (mode 0644): run chmod 600 ${target}`]);
    const none: string[] = [];
    await readIdentityFile(file('tight.txt', keygen(), 0o400), { onWarning: (m) => none.push(m) });
    expect(none).toEqual([]);
  });

  it('refuses missing, empty and public-key-only files, saying which', async () => {
    expect((await failure(() => readIdentityFile(path.join(dir, 'missing.txt')), 'USAGE')).message).toMatch(/does not exist$/);
    expect((await failure(() => readIdentityFile(file('empty.txt', '')), 'USAGE')).message).toMatch(/holds no identity/);
    expect((await failure(() => readIdentityFile(file('pub.txt', `# public\n${recipient}\n`)), 'USAGE')).message).toMatch(/holds only public keys/);
  });

  it('refuses a bad line without quoting it', async () => {
    const broken = identity.slice(0, -4) + (identity.endsWith('QQQQ') ? 'PPPP' : 'QQQQ');
    const target = file('broken.txt', `# key\n${broken}\n`);
    const error = await failure(() => readIdentityFile(target), 'USAGE');
    expect(error.message).toBe(`${target} line 2 is not a valid age identity: it may be truncated or mistyped`);
    expect(error.message).not.toContain(broken.slice(16, 40));
    const junk = await failure(() => readIdentityFile(file('junk.txt', 'hunter2\n')), 'USAGE');
    expect(junk.message).not.toContain('hunter2');
  });

  it('names SSH keys and encrypted identity files', async () => {
    expect((await failure(() => parseIdentities('-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n'), 'USAGE')).message).toMatch(/SSH or PEM/);
    expect((await failure(() => parseIdentities('age-encryption.org/v1\n-> scrypt x 18\n'), 'USAGE')).message).toMatch(/itself encrypted/);
  });
});

describe('recipientOf', () => {
  it('gives the public key of an identity, and never quotes a bad one', async () => {
    expect(await recipientOf(identity)).toBe(recipient);
    const error = await failure(() => recipientOf(identity.slice(0, -2)), 'USAGE');
    expect(error.message).not.toContain(identity.slice(16, 40));
  });
});

describe('checkEncryptionKey', () => {
  it('normalises recipients and fills the default work factor', () => {
    expect(checkEncryptionKey({ mode: 'recipients', recipients: [` ${recipient}`] })).toEqual({ mode: 'recipients', recipients: [recipient] });
    expect(checkEncryptionKey({ mode: 'passphrase', passphrase: 'p' })).toEqual({ mode: 'passphrase', passphrase: 'p', workFactor: 18 });
  });

  it('refuses an empty passphrase and an out-of-range work factor', async () => {
    expect((await failure(() => checkEncryptionKey({ mode: 'passphrase', passphrase: '' }), 'USAGE')).message).toMatch(/passphrase is empty/);
    await failure(() => checkEncryptionKey({ mode: 'passphrase', passphrase: 'p', workFactor: 21 }), 'USAGE');
    await failure(() => checkEncryptionKey({ mode: 'passphrase', passphrase: 'p', workFactor: 9 }), 'USAGE');
  });
});
