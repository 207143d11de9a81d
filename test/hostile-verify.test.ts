/**
 * Hostile archives given to `verify`: crafted tar streams (paths with `..`, absolute paths, a file written through a
 * symlink, hard links outside the tree, oversized headers, truncated streams, duplicate entries, manifests that lie
 * about sizes and hashes). Each is installed as a real backup whose index record and manifest copy carry the right
 * checksums, so the checksum passes and what catches the attack is verify's look at the content. Each must be
 * reported BROKEN with a clear problem, exit 1 with one line on stderr, never crash or hang, and write nothing.
 * (What restore does with such archives is test/hostile-archives*.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliRun } from './helpers/cli.js';
import { snapshotTree, tempDir, writeTree } from './helpers/tree.js';
import { openPlatform, type BackupRecord, type Manifest, type ManifestEntry } from '../src/index.js';

const YAML = `services:
  app:
    config:  [services/app/config]
    volumes: [services/app/data]
`;
const DATA = 'app/volumes/data';
const MANIFEST_PATH = '_backup/manifest.json';

/** A header as tar-stream's pack takes it: a name and what differs from the defaults. */
type HeaderArgument = Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>;

interface Entry {
  header: HeaderArgument;
  content?: Buffer;
}

/** A tar stream of `entries`, as bytes. */
async function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const { header, content } of entries) {
    await new Promise<void>((resolve, reject) => pack.entry(header, content ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const file = (name: string, text: string): Entry => ({ header: { name, type: 'file', mode: 0o644, mtime: new Date(1_700_000_000_000) }, content: Buffer.from(text) });
const dir = (name: string): Entry => ({ header: { name, type: 'directory', mode: 0o755, mtime: new Date(1_700_000_000_000) } });

/** The manifest entry that honestly describes a tar entry. */
function described({ header, content }: Entry): ManifestEntry {
  const type = header.type === 'directory' ? 'dir' : header.type === 'link' ? 'hardlink' : header.type === 'symlink' ? 'symlink' : 'file';
  return {
    path: header.name,
    type,
    mode: header.mode ?? 0o644,
    uid: 0,
    gid: 0,
    mtimeMs: 1_700_000_000_000,
    size: type === 'file' ? (content?.length ?? 0) : 0,
    ...(type === 'file' && { sha256: sha256(content ?? Buffer.alloc(0)) }),
    ...(header.linkname !== undefined && { link: header.linkname }),
    dev: 1,
    ino: 1,
    ctimeMs: 1_700_000_000_000,
  };
}

/** Sets a file header's size field (octal, offset 124) to `size` and fixes the header checksum. */
function patchSize(tar: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(tar);
  for (let offset = 0; offset + 512 <= out.length; offset += 512) {
    if (out.subarray(offset, offset + 100).toString('latin1').replace(/\0.*$/s, '') !== name) continue;
    out.write(`${size.toString(8).padStart(11, '0')}\0`, offset + 124, 12, 'latin1');
    out.fill(0x20, offset + 148, offset + 156);
    let sum = 0;
    for (let i = offset; i < offset + 512; i++) sum += out[i]!;
    out.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 8, 'latin1');
    return out;
  }
  throw new Error(`no header for ${name}`);
}

/** A raw pax extended header block claiming `size` bytes of records, then nothing more. */
function paxHeaderClaiming(size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write('PaxHeaders/x', 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('00000000000\0', 136, 'latin1');
  block.fill(0x20, 148, 156);
  block.write('x', 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return Buffer.concat([block, Buffer.alloc(4096, 0x41)]);
}

interface Crafted {
  /** The tar entries before the manifest. */
  entries: Entry[];
  /** Edits the manifest (which by default describes the entries honestly). */
  lie?: (manifest: Manifest) => void;
  /** The archive's own manifest entry: the manifest (default), raw bytes, or none. */
  ownManifest?: Buffer | null | ((manifest: Manifest) => Buffer);
  /** The manifest copy's plain bytes (default: the manifest). */
  copy?: Buffer;
  /** Edits the tar bytes (before compression) or the compressed bytes. */
  tar?: (tar: Buffer) => Buffer;
  gz?: (gz: Buffer) => Buffer;
}

let template: { root: string; record: BackupRecord; manifest: Manifest };
const made: string[] = [];

beforeAll(async () => {
  const root = tempDir('mcp-hostile-verify-');
  made.push(root);
  writeTree(root, { 'platform.yaml': YAML, services: { app: { config: { 'app.json': '{}\n' }, data: { 'a.txt': 'alpha\n' } } } });
  const { record } = await (await openPlatform({ platform: root, cwd: root })).create({ type: 'full' });
  const manifest = JSON.parse(gunzipSync(fs.readFileSync(path.join(root, 'backup/archives', record.manifest))).toString()) as Manifest;
  template = { root, record, manifest };
});
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A copy of the template platform whose one backup is replaced by the crafted archive, with correct checksums. */
async function install(crafted: Crafted): Promise<{ root: string; id: string }> {
  const root = tempDir('mcp-hostile-verify-');
  made.push(root);
  fs.cpSync(template.root, root, { recursive: true, verbatimSymlinks: true });
  const { record } = template;
  const manifest: Manifest = { ...structuredClone(template.manifest), entries: crafted.entries.map(described), deleted: [] };
  crafted.lie?.(manifest);
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const own = crafted.ownManifest === undefined ? manifestBytes : typeof crafted.ownManifest === 'function' ? crafted.ownManifest(manifest) : crafted.ownManifest;
  const entries = own === null ? crafted.entries : [...crafted.entries, { header: { name: MANIFEST_PATH, type: 'file', mode: 0o600 }, content: own } as Entry];
  let tar = await tarOf(entries);
  if (crafted.tar) tar = crafted.tar(tar);
  let gz: Buffer = gzipSync(tar);
  if (crafted.gz) gz = crafted.gz(gz);
  const copy = gzipSync(crafted.copy ?? manifestBytes);
  const archives = path.join(root, 'backup/archives');
  fs.writeFileSync(path.join(archives, record.archive), gz);
  fs.writeFileSync(path.join(archives, record.manifest), copy);
  const indexFile = path.join(root, 'backup/metadata.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { backups: BackupRecord[] };
  Object.assign(index.backups[0]!, { sha256: sha256(gz), size: gz.length, manifestSha256: sha256(copy) });
  fs.writeFileSync(indexFile, JSON.stringify(index));
  return { root, id: record.id };
}

function verify(root: string, id: string): CliRun & { timedOut: boolean } {
  const run = spawnSync(process.execPath, [BIN, 'backup', '--platform', root, 'verify', id], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr, timedOut: run.error !== undefined || run.signal !== null };
}

/** What a real backup of the template platform holds: its roots and what is under them. */
const base = (): Entry[] => [
  dir('app/config/config'),
  file('app/config/config/app.json', '{}\n'),
  dir(DATA),
  file(`${DATA}/a.txt`, 'alpha\n'),
  file('_platform/platform.yaml', YAML),
];

const CASES: [string, Crafted, string | RegExp][] = [
  ['a path with ..', { entries: [...base(), file(`${DATA}/../../../../escape.txt`, 'out\n')] }, 'path with ".."'],
  ['an absolute path', { entries: [...base(), file('/tmp/mcp-hostile-absolute.txt', 'out\n')] }, 'absolute path'],
  [
    'a symlink, then a file written through it',
    { entries: [...base(), { header: { name: `${DATA}/link`, type: 'symlink', linkname: '/etc', mode: 0o777 } }, file(`${DATA}/link/passwd`, 'root::0:0::/:/bin/sh\n')] },
    `would be written through the symlink ${DATA}/link`,
  ],
  [
    'a hard link to a file outside',
    { entries: [...base(), { header: { name: `${DATA}/shadow`, type: 'link', linkname: '/etc/shadow', mode: 0o644 } }] },
    'hard link to "/etc/shadow", outside the restored files',
  ],
  [
    'a hard link climbing out',
    { entries: [...base(), { header: { name: `${DATA}/up`, type: 'link', linkname: `${DATA}/../../../../etc/passwd`, mode: 0o644 } }] },
    'outside the restored files',
  ],
  [
    'an entry outside every root',
    { entries: [...base(), dir('other'), file('other/x.txt', 'x\n')] },
    'not under any root of the backup',
  ],
  ['a header that claims a huge size', { entries: base(), tar: (t) => patchSize(t, `${DATA}/a.txt`, 8 * 1024 ** 3 - 1) }, /cannot be read/],
  ['a pax header that claims a huge size', { entries: [], tar: (t) => Buffer.concat([paxHeaderClaiming(8 * 1024 ** 3 - 1), t]) }, /cannot be read|larger than/],
  ['a truncated gzip stream', { entries: base(), gz: (g) => g.subarray(0, Math.floor(g.length * 0.6)) }, /cannot be read/],
  ['a tar stream cut in the middle of a file', { entries: [...base(), file(`${DATA}/big.bin`, 'z'.repeat(100_000))], tar: (t) => t.subarray(0, 20_000) }, /cannot be read|has no manifest/],
  [
    'a manifest that lies about a size',
    { entries: base(), lie: (m) => void (m.entries.find((e) => e.path.endsWith('a.txt'))!.size += 1) },
    `${DATA}/a.txt: content does not match its SHA-256 in the manifest`,
  ],
  [
    'a manifest that lies about a hash',
    { entries: base(), lie: (m) => void (m.entries.find((e) => e.path.endsWith('a.txt'))!.sha256 = sha256('something else')) },
    `${DATA}/a.txt: content does not match its SHA-256 in the manifest`,
  ],
  [
    'a manifest that lies about a type',
    { entries: base(), lie: (m) => void (m.entries.find((e) => e.path.endsWith('a.txt'))!.type = 'symlink') },
    `${DATA}/a.txt: archive holds a file, manifest says symlink`,
  ],
  ['a duplicate entry', { entries: [...base(), file(`${DATA}/a.txt`, 'second copy\n')] }, `${DATA}/a.txt: appears twice in the archive`],
  ['an entry the manifest does not list', { entries: base(), lie: (m) => void (m.entries = m.entries.filter((e) => !e.path.endsWith('a.txt'))) }, `${DATA}/a.txt: in the archive but not in the manifest`],
  ['a manifest entry the archive lacks', { entries: base(), lie: (m) => void m.entries.push(described(file(`${DATA}/ghost.txt`, 'boo\n'))) }, `${DATA}/ghost.txt: in the manifest but not in the archive`],
  ['a manifest listing a path twice', { entries: base(), lie: (m) => void m.entries.push(m.entries.at(-1)!) }, 'listed twice'],
  ['a device node', { entries: [...base(), { header: { name: `${DATA}/tty`, type: 'character-device', devmajor: 5, devminor: 0, mode: 0o666 } }], lie: (m) => void (m.entries.at(-1)!.type = 'chardev' as never) }, 'unknown type chardev'],
  ['no manifest in the archive', { entries: base(), ownManifest: null }, 'has no manifest'],
  ['an archive manifest that differs from the copy', { entries: base(), ownManifest: (m) => Buffer.from(JSON.stringify({ ...m, description: 'changed' })) }, /differs from the archive's own manifest|holds backup/],
  ['manifests that are not JSON', { entries: base(), ownManifest: Buffer.from('{"format": "mcp-backup-manifest", '), copy: Buffer.from('not json') }, /not valid JSON/],
  ['manifest entries that are not entries', { entries: base(), lie: (m) => void m.entries.push(null as never, 7 as never, { path: 3 } as never) }, /does not hold an mcp backup manifest|not valid/],
  ['a manifest whose fields have the wrong types', { entries: base(), lie: (m) => Object.assign(m, { deleted: 'all', roots: null }) }, /does not hold an mcp backup manifest|lists no roots/],
  ['a manifest copy of another backup', { entries: base(), lie: (m) => void (m.id = '20200101T000000Z-full-0000') }, /belongs to backup 20200101T000000Z-full-0000|holds backup 20200101T000000Z-full-0000/],
];

describe('verify on hostile archives whose checksums are right', () => {
  it.each(CASES)('%s', async (_name, crafted, problem) => {
    const { root, id } = await install(crafted);
    const before = snapshotTree(root, { mtimes: true });
    const run = verify(root, id);
    const label = `stdout: ${run.stdout}\nstderr: ${run.stderr}`;
    expect(run.timedOut, label).toBe(false);
    expect(run.code, label).toBe(1);
    expect(run.stdout, label).toMatch(new RegExp(`^BROKEN  ${id}:`));
    expect(run.stdout, label).not.toContain('does not match its SHA-256 in the index');
    if (typeof problem === 'string') expect(run.stdout, label).toContain(problem);
    else expect(run.stdout, label).toMatch(problem);
    expect(run.stderr.trim().split('\n'), label).toEqual([`mcp backup: 1 of 1 backup(s) failed verification: ${id}`]);
    expect(snapshotTree(root, { mtimes: true })).toEqual(before);
    expect(fs.existsSync('/tmp/mcp-hostile-absolute.txt')).toBe(false);
  });

  it('the untouched template verifies clean (the cases above fail for their own reason)', async () => {
    const honest = await install({ entries: base() });
    const run = verify(honest.root, honest.id);
    expect(run.stdout).toMatch(new RegExp(`^ok +${honest.id}`));
    expect(run.code).toBe(0);
  });
});
