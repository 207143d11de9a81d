/**
 * Hostile archives: crafted tar streams (and manifests) with `..`, absolute paths, writes through a symlink,
 * entries missing from the manifest, duplicates, hard links and roots that escape, special files. Each one gets a
 * valid-looking index record whose checksums match, so integrity passes and only the safety checks stand in the
 * way. The restore must refuse with one line naming the entry, write nothing outside temp/ (which it cleans), and
 * leave the platform as it was.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mcpOn } from './helpers/cli.js';
import { exactSnapshot, listAll } from './helpers/exact-tree.js';
import { backup } from './helpers/restore-fixtures.js';
import { tempDir, writeTree } from './helpers/tree.js';
import type { BackupRecord, Manifest, ManifestEntry } from '../src/index.js';

const YAML = `services:
  svc:
    config:  [svc/config]
    volumes: [svc/data]
`;

interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  content?: string;
  linkname?: string;
  mode?: number;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A manifest entry as create writes it. */
function entry(p: string, type: ManifestEntry['type'], extra: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path: p, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtimeMs: 1_700_000_000_000, size: 0, dev: 1, ino: 1, ctimeMs: 1_700_000_000_000, ...extra };
}

function fileEntry(p: string, content: string): ManifestEntry {
  return entry(p, 'file', { size: Buffer.byteLength(content), sha256: sha256(content) });
}

async function tarGz(entries: readonly TarEntry[], manifest: Manifest): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  const add = (header: Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>, content?: string) =>
    new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (content !== undefined) pack.entry(header, content, callback);
      else pack.entry(header, callback);
    });
  for (const e of entries) {
    const type = e.type ?? 'file';
    await add({ name: e.name, type, mode: e.mode ?? 0o644, ...(e.linkname !== undefined && { linkname: e.linkname }) }, type === 'file' ? (e.content ?? '') : undefined);
  }
  await add({ name: '_backup/manifest.json', type: 'file', mode: 0o600 }, JSON.stringify(manifest));
  pack.finalize();
  await done;
  return zlib.gzipSync(Buffer.concat(chunks));
}

describe('hostile archives', () => {
  let base: string;
  let root: string;
  let record: BackupRecord;
  let manifest: Manifest;
  /** The clean content of the backup, as tar entries. */
  let clean: TarEntry[];

  beforeEach(() => {
    base = tempDir('mcp-hostile-');
    root = path.join(base, 'platform');
    writeTree(root, { svc: { config: { 'a.txt': 'alpha\n' }, data: { 'b.txt': 'bravo\n' } } });
    fs.writeFileSync(path.join(root, 'platform.yaml'), YAML);
    record = backup(root, '--type', 'service', '--services', 'svc');
    manifest = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(root, 'backup/archives', record.manifest))).toString()) as Manifest;
    clean = manifest.entries.map((e) => {
      const source = manifest.roots.find((r) => e.path === r.archiveRoot || e.path.startsWith(`${r.archiveRoot}/`))!;
      const onDisk = path.join(root, source.source, e.path.slice(source.archiveRoot.length));
      return e.type === 'dir' ? { name: e.path, type: 'directory' as const } : { name: e.path, content: fs.readFileSync(onDisk, 'utf8') };
    });
  });

  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  /** Replaces the backup's archive and manifest copy with crafted ones, and its record's checksums to match. */
  async function plant(entries: readonly TarEntry[], changes: Partial<Manifest>): Promise<void> {
    const crafted: Manifest = { ...manifest, ...changes };
    const archive = await tarGz(entries, crafted);
    const manifestCopy = zlib.gzipSync(JSON.stringify(crafted));
    fs.writeFileSync(path.join(root, 'backup/archives', record.archive), archive);
    fs.writeFileSync(path.join(root, 'backup/archives', record.manifest), manifestCopy);
    const indexFile = path.join(root, 'backup/metadata.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { backups: BackupRecord[] };
    const r = index.backups.find((b) => b.id === record.id)!;
    Object.assign(r, { size: archive.length, sha256: sha256(archive), manifestSha256: sha256(manifestCopy) });
    fs.writeFileSync(indexFile, JSON.stringify(index));
  }

  /** Restores in place and expects a one-line refusal matching `why`, with nothing written anywhere. */
  function expectRefused(why: RegExp, options: { alsoToTarget?: boolean } = {}): void {
    const platformBefore = exactSnapshot({ svc: path.join(root, 'svc'), yaml: path.join(root, 'platform.yaml') });
    // (Besides backup/, svc and platform.yaml, the root holds the host's cache the backup left.)
    const rootBefore = fs.readdirSync(root).sort();
    const run = mcpOn(root, ['restore', record.id, '--yes']);
    expect(run.stdout).not.toMatch(/Restored/);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr.trim().split('\n'), run.stderr).toHaveLength(1);
    expect(run.stderr).toMatch(why);
    expect(exactSnapshot({ svc: path.join(root, 'svc'), yaml: path.join(root, 'platform.yaml') })).toEqual(platformBefore);
    expect(fs.readdirSync(base)).toEqual(['platform']);
    expect(listAll(path.join(root, 'backup/temp'))).toEqual([]);
    expect(fs.readdirSync(root).sort()).toEqual(rootBefore);
    // Refused before the safety backup: the index holds only the planted backup.
    const index = JSON.parse(fs.readFileSync(path.join(root, 'backup/metadata.json'), 'utf8')) as { backups: BackupRecord[] };
    expect(index.backups.map((b) => b.id)).toEqual([record.id]);
    if (options.alsoToTarget === false) return;
    // And into a target folder: the same refusal, nothing written there either.
    const target = path.join(base, 'target');
    const toTarget = mcpOn(root, ['restore', record.id, '--target', target]);
    expect(toTarget.code).toBe(1);
    expect(toTarget.stderr).toMatch(why);
    expect(listAll(target).filter((p) => !p.endsWith('svc') && !p.includes('svc/config') && !p.includes('svc/volumes'))).toEqual([]);
    expect(listAll(target).filter((p) => /a\.txt|b\.txt|escape|owned|passwd/.test(p))).toEqual([]);
    fs.rmSync(target, { recursive: true, force: true });
  }

  it('the clean crafted archive restores (the harness itself is sound)', async () => {
    await plant(clean, {});
    fs.writeFileSync(path.join(root, 'svc/config/a.txt'), 'changed\n');
    const run = mcpOn(root, ['restore', record.id, '--yes', '--no-safety-backup']);
    expect(run.code, run.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'svc/config/a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('refuses an archive entry with ".." that the manifest does not list', async () => {
    await plant([...clean, { name: 'svc/config/config/../../../../escape.txt', content: 'x' }], {});
    expectRefused(/refused entry "svc\/config\/config\/\.\.\/\.\.\/\.\.\/\.\.\/escape\.txt": path with "\.\."/);
  });

  it('refuses a manifest entry with ".."', async () => {
    const evil = 'svc/config/config/../../../../escape.txt';
    await plant([...clean, { name: evil, content: 'x' }], { entries: [...manifest.entries, fileEntry(evil, 'x')] });
    expectRefused(/refused entry "svc\/config\/config\/\.\.\/.*escape\.txt": path with "\.\."/);
  });

  it('refuses an absolute path, in the archive or in the manifest', async () => {
    const evil = path.join(base, 'escape.txt');
    await plant([...clean, { name: evil, content: 'x' }], {});
    expectRefused(/refused entry ".*escape\.txt": absolute path/);
    await plant([...clean, { name: evil, content: 'x' }], { entries: [...manifest.entries, fileEntry(evil, 'x')] });
    expectRefused(/refused entry ".*escape\.txt": absolute path/);
  });

  it('refuses a file written through a symlink of the archive', async () => {
    const link = 'svc/config/config/link';
    const through = `${link}/owned.txt`;
    const entries = [...clean, { name: link, type: 'symlink' as const, linkname: base }, { name: through, content: 'owned' }];
    await plant(entries, { entries: [...manifest.entries, entry(link, 'symlink', { link: base }), fileEntry(through, 'owned')] });
    expectRefused(/refused entry "svc\/config\/config\/link\/owned\.txt": it would be written through the symlink svc\/config\/config\/link/);
    // The same with only the symlink in the manifest: the file is then an entry the manifest does not list.
    await plant(entries, { entries: [...manifest.entries, entry(link, 'symlink', { link: base })] });
    expectRefused(/refused entry "svc\/config\/config\/link\/owned\.txt": it is not in backup .*'s manifest/);
  });

  it('refuses an archive entry the manifest does not list', async () => {
    await plant([...clean, { name: 'svc/config/config/extra.txt', content: 'smuggled' }], {});
    expectRefused(/refused entry "svc\/config\/config\/extra\.txt": it is not in backup .*'s manifest/);
  });

  it('refuses duplicate entries, in the archive or in the manifest', async () => {
    await plant([...clean, { name: 'svc/config/config/a.txt', content: 'alpha\n' }], {});
    expectRefused(/refused entry "svc\/config\/config\/a\.txt": it appears twice in the archive/);
    await plant(clean, { entries: [...manifest.entries, fileEntry('svc/config/config/a.txt', 'alpha\n')] });
    expectRefused(/refused entry "svc\/config\/config\/a\.txt": listed twice/);
  });

  it('refuses a hard link to outside the restored files', async () => {
    const hl = 'svc/config/config/hl';
    await plant([...clean, { name: hl, type: 'link', linkname: '/etc/passwd' }], { entries: [...manifest.entries, entry(hl, 'hardlink', { link: '/etc/passwd' })] });
    expectRefused(/refused entry "svc\/config\/config\/hl": hard link to "\/etc\/passwd", outside the restored files/);
    // A manifest that names a sound target, over an archive whose link points elsewhere.
    await plant([...clean, { name: hl, type: 'link', linkname: '../../../../etc/passwd' }], {
      entries: [...manifest.entries, entry(hl, 'hardlink', { link: 'svc/config/config/a.txt' })],
    });
    expectRefused(/refused entry "svc\/config\/config\/hl": it links to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", the manifest says "svc\/config\/config\/a\.txt"/);
  });

  it('refuses an entry whose type differs from the manifest, and special files', async () => {
    const swapped = clean.map((e) => (e.name === 'svc/config/config/a.txt' ? { name: e.name, type: 'symlink' as const, linkname: '/etc/passwd' } : e));
    await plant(swapped, {});
    expectRefused(/refused entry "svc\/config\/config\/a\.txt": the archive holds a symlink, the manifest a file/);
    await plant([...clean, { name: 'svc/config/config/dev', type: 'character-device' }], {});
    expectRefused(/refused entry "svc\/config\/config\/dev": it is not in backup .*'s manifest/);
  });

  it('refuses manifest paths outside every root, and roots that escape the platform', async () => {
    await plant(clean, { entries: [...manifest.entries, fileEntry('elsewhere/x.txt', 'x')] });
    expectRefused(/refused entry "elsewhere\/x\.txt": not under any root of the backup/);
    // The current platform.yaml declares svc's volumes, so a manifest's other path for that root is ignored;
    // a root it does not declare may only go inside the platform root.
    const outside = { service: 'svc', part: 'volumes' as const, source: '../../outside', archiveRoot: 'svc/volumes/outside' };
    const entries = [...clean, { name: 'svc/volumes/outside', type: 'directory' as const }, { name: 'svc/volumes/outside/x.txt', content: 'x' }];
    await plant(entries, {
      roots: [...manifest.roots, outside],
      entries: [...manifest.entries, entry('svc/volumes/outside', 'dir'), fileEntry('svc/volumes/outside/x.txt', 'x')],
    });
    expectRefused(/restores svc's volumes to .*outside, which the current platform\.yaml does not declare and which is outside the platform root/, {
      alsoToTarget: false,
    });
    // Into a target folder, the declared path plays no part: it lands in DIR/svc/volumes/outside.
    const target = path.join(base, 'target');
    expect(mcpOn(root, ['restore', record.id, '--target', target]).code).toBe(0);
    expect(fs.readFileSync(path.join(target, 'svc/volumes/outside/x.txt'), 'utf8')).toBe('x');
    expect(fs.readdirSync(base).sort()).toEqual(['platform', 'target']);
    fs.rmSync(target, { recursive: true });
    const badRoot = manifest.roots.map((r) => (r.part === 'volumes' ? { ...r, archiveRoot: 'svc/volumes/../../x' } : r));
    await plant(clean, { roots: badRoot });
    expectRefused(/refused entry "svc\/volumes\/\.\.\/\.\.\/x": path with "\.\."/);
  });

  it('refuses content that does not match its SHA-256, even with a matching archive checksum', async () => {
    await plant(
      clean.map((e) => (e.name === 'svc/config/config/a.txt' ? { ...e, content: 'ALPHA\n' } : e)),
      {},
    );
    expectRefused(/svc\/config\/config\/a\.txt in the archive of backup .* does not match its SHA-256 in the manifest; nothing was restored/);
  });
});
