/**
 * The benchmark's platform generator: a platform shaped like real MCP services, reproducible from a seed.
 *
 * Layout (convention discovery, no platform.yaml): `services/<name>/{config,volumes,logs}/` for
 * - filesystem: tens of thousands of small JSON / markdown / text / CSV files in nested folders, unicode names
 *   (NFC and NFD), long names, symlinks (relative, to folders, dangling, absolute), empty folders, a few media files;
 * - git: several git repositories whose history is built (git fast-import, then a few ordinary commits that leave
 *   loose objects) from real source and documentation text found on this machine, with fixed authors and dates;
 * - memory: a JSONL knowledge graph (one large file) and a sharded JSON store of small files;
 * - assets: incompressible blobs of 50 MB and more (AES-CTR keystream from the seed);
 * - notes: a database-like binary file (pages of text, zeros and random bytes);
 * - fetch: configuration and logs only, an empty volumes folder;
 * - logs: a few large compressible logs (and a rotated, already gzip-compressed one).
 *
 * Sizes: tiny (about 2 MB, for the smoke test), small (about 50 MB / 5,000 files), full (about 700 MB / 70,000
 * files), double (twice full, to check that peak memory stays flat as the data grows).
 *
 * Determinism: same seed and same machine give the same tree, names, modes, mtimes and contents, except git's
 * `.git/index` (it caches file stat data). The git history depends on the text found on the machine.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync, closeSync, existsSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readFileSync,
  renameSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync,
} from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { hash32, randomBytesStream, Rng } from './prng.js';
import {
  collectCorpus, csvDocument, DEFAULT_CORPUS_ROOTS, DEPARTMENTS, fileStem, FIRST_NAMES, isoDate, jsonDocument,
  logText, markdownDocument, sentence, syntheticSource, textDocument, word, words, type CorpusRoot,
} from './text.js';

export type DatasetSize = 'tiny' | 'small' | 'full' | 'double';
export const DATASET_SIZES: readonly DatasetSize[] = ['tiny', 'small', 'full', 'double'];

/** Bumped whenever the generator's output changes, so cached datasets are rebuilt. */
export const GENERATOR_VERSION = 1;

const MB = 1024 * 1024;

interface Profile {
  /** Small documents in the filesystem service, and the folders they go in. */
  docs: number;
  docDirs: number;
  emptyDirs: number;
  symlinks: number;
  /** Binary media files (random, incompressible) among the documents, and their size range. */
  media: number;
  mediaSize: [number, number];
  /** Git repositories, files in each working tree, commits via fast-import, then ordinary commits (loose objects). */
  repos: number;
  repoFiles: number;
  repoCommits: number;
  looseCommits: number;
  /** Memory service: entities in the JSONL graph, small files in the JSON store. */
  memoryEntities: number;
  memoryStoreFiles: number;
  notesDbBytes: number;
  /** Large logs: [service, file, bytes]. */
  logs: Array<[string, string, number]>;
  /** Incompressible blobs: [path under services/assets/volumes, bytes]. */
  blobs: Array<[string, number]>;
}

const FULL: Profile = {
  docs: 58_000,
  docDirs: 4_200,
  emptyDirs: 60,
  symlinks: 120,
  media: 24,
  mediaSize: [300 * 1024, 2 * MB],
  repos: 6,
  repoFiles: 700,
  repoCommits: 60,
  looseCommits: 4,
  memoryEntities: 40_000,
  memoryStoreFiles: 9_000,
  notesDbBytes: 24 * MB,
  logs: [
    ['filesystem', 'server.log', 48 * MB],
    ['git', 'git-server.log', 40 * MB],
    ['memory', 'memory.log', 28 * MB],
    ['assets', 'access.log', 20 * MB],
  ],
  blobs: [
    ['models/embeddings-large.bin', 80 * MB],
    ['datasets/archive-2024.tar.zst', 72 * MB],
    ['uploads/meeting-recording-0042.mp4', 64 * MB],
    ['dumps/postgres-dump.sql.gz', 50 * MB],
  ],
};

const PROFILES: Record<DatasetSize, Profile> = {
  tiny: {
    docs: 180, docDirs: 24, emptyDirs: 3, symlinks: 6, media: 1, mediaSize: [40 * 1024, 80 * 1024],
    repos: 1, repoFiles: 30, repoCommits: 6, looseCommits: 2,
    memoryEntities: 300, memoryStoreFiles: 40, notesDbBytes: 128 * 1024,
    logs: [['filesystem', 'server.log', 400 * 1024]],
    blobs: [['uploads/recording-0001.mp4', 768 * 1024]],
  },
  small: {
    docs: 3_900, docDirs: 320, emptyDirs: 12, symlinks: 20, media: 4, mediaSize: [200 * 1024, 1 * MB],
    repos: 2, repoFiles: 260, repoCommits: 20, looseCommits: 3,
    memoryEntities: 6_000, memoryStoreFiles: 400, notesDbBytes: 2 * MB,
    logs: [['filesystem', 'server.log', 6 * MB], ['git', 'git-server.log', 4 * MB]],
    blobs: [['uploads/meeting-recording-0042.mp4', 16 * MB]],
  },
  full: FULL,
  double: {
    ...FULL,
    docs: FULL.docs * 2,
    docDirs: FULL.docDirs * 2,
    emptyDirs: FULL.emptyDirs * 2,
    symlinks: FULL.symlinks * 2,
    media: FULL.media * 2,
    repos: FULL.repos * 2,
    memoryEntities: FULL.memoryEntities * 2,
    memoryStoreFiles: FULL.memoryStoreFiles * 2,
    notesDbBytes: FULL.notesDbBytes * 2,
    logs: [...FULL.logs, ...FULL.logs.map(([s, f, b]): [string, string, number] => [s, f.replace('.log', '-2.log'), b])],
    blobs: [...FULL.blobs, ...FULL.blobs.map(([p, b]): [string, number] => [p.replace(/(\.[^./]+)$/, '-2$1'), b])],
  },
};

export function profileOf(size: DatasetSize): Readonly<Profile> {
  return PROFILES[size];
}

export interface GenerateOptions {
  size: DatasetSize;
  seed: number;
  /** Where to look for real text (defaults to the usual system folders). */
  corpusRoots?: string[];
  /** Progress messages. */
  log?: (message: string) => void;
}

export interface DatasetStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes of regular file content. */
  bytes: number;
  /** Where the git repositories' text came from (root folder and number of files). */
  corpus: Array<{ root: string; files: number }>;
  git: boolean;
}

/** Fixed identity and environment for every git command (no user or system configuration leaks in). */
function gitEnv(unixSeconds: number): NodeJS.ProcessEnv {
  const date = `${unixSeconds} +0000`;
  return {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Bench Author',
    GIT_AUTHOR_EMAIL: 'author@bench.invalid',
    GIT_COMMITTER_NAME: 'Bench Committer',
    GIT_COMMITTER_EMAIL: 'committer@bench.invalid',
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
    TZ: 'UTC',
  };
}

const GIT_FLAGS = [
  '-c', 'user.name=Bench Author', '-c', 'user.email=author@bench.invalid', '-c', 'init.defaultBranch=main',
  '-c', 'commit.gpgsign=false', '-c', 'gc.auto=0', '-c', 'core.autocrlf=false', '-c', 'pack.threads=1',
];

export function git(cwd: string, args: string[], unixSeconds: number, input?: Buffer): string {
  return execFileSync('git', [...GIT_FLAGS, ...args], {
    cwd, env: gitEnv(unixSeconds), input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * MB,
  }).toString('utf8');
}

export function hasGit(): boolean {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes a file, creating its folder, with an explicit mode (the generator runs with umask 022). */
function put(path: string, content: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode });
  if (mode !== 0o644) chmodSync(path, mode);
}

function putRandom(path: string, seed: number, label: string, size: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w', 0o644);
  try {
    for (const chunk of randomBytesStream(seed, label, size)) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/** Size of a small document: mostly under 2 KB, a long tail up to 128 KB. */
export function smallDocSize(rng: Rng): number {
  const r = rng.next();
  if (r < 0.7) return rng.range(100, 1500);
  if (r < 0.95) return rng.range(1500, 4000);
  if (r < 0.995) return rng.range(4000, 16000);
  return rng.range(16000, 131072);
}

const DOC_EXTS: Array<[string, number]> = [
  ['json', 0.35], ['md', 0.3], ['txt', 0.15], ['csv', 0.08], ['yaml', 0.04], ['html', 0.03], ['log', 0.02],
  ['sh', 0.01], ['', 0.02],
];

export function docExt(rng: Rng): string {
  let r = rng.next();
  for (const [ext, p] of DOC_EXTS) {
    if (r < p) return ext;
    r -= p;
  }
  return 'md';
}

/** Content of a small document of the given type and about the given size. */
export function docContent(rng: Rng, ext: string, size: number, prose?: string): string {
  switch (ext) {
    case 'json':
      return jsonDocument(rng, size);
    case 'md':
      return markdownDocument(rng, size, prose);
    case 'csv':
      return csvDocument(rng, size);
    case 'yaml':
      return Array.from({ length: Math.max(3, Math.floor(size / 40)) }, () => `${word(rng)}_${rng.int(99)}: ${words(rng, rng.range(1, 5))}`).join('\n') + '\n';
    case 'html':
      return `<!doctype html>\n<html><head><title>${sentence(rng)}</title></head><body>\n` +
        textDocument(rng, size, prose).split('\n\n').map((p) => `<p>${p}</p>`).join('\n') + '\n</body></html>\n';
    case 'log':
      return logText(rng, size, Date.UTC(2024, rng.int(12), 1), 'docs');
    case 'sh':
      return `#!/bin/sh\n# ${sentence(rng)}\nset -eu\n` +
        Array.from({ length: Math.max(2, Math.floor(size / 60)) }, () => `echo "${words(rng, 4)}"`).join('\n') + '\n';
    default:
      return textDocument(rng, size, prose);
  }
}

// ---------------------------------------------------------------------------------------------------------------

interface Ctx {
  root: string;
  seed: number;
  rng: Rng;
  profile: Profile;
  log: (message: string) => void;
  /** Real prose (from /usr/share/doc) for some documents. */
  prose: string;
}

function writeConfig(ctx: Ctx, service: string, extra: Record<string, unknown> = {}): void {
  const rng = ctx.rng.fork(`config:${service}`);
  const dir = join(ctx.root, 'services', service, 'config');
  put(join(dir, 'server.json'), JSON.stringify({
    name: service, version: `1.${rng.int(20)}.${rng.int(10)}`, transport: 'stdio', logLevel: 'info',
    limits: { maxRequestBytes: 1 << 20, timeoutMs: 30000 }, ...extra,
  }, null, 2) + '\n');
  put(join(dir, '.env'), `${service.toUpperCase()}_API_KEY=sk-bench-${rng.hex(32)}\nLOG_LEVEL=info\n`, 0o600);
  put(join(dir, 'mcp-client.json'), JSON.stringify({
    mcpServers: {
      [service]: { command: 'npx', args: ['-y', `@modelcontextprotocol/server-${service}`, `/srv/${service}`], env: { LOG_LEVEL: 'info' } },
    },
  }, null, 2) + '\n');
}

function writeLogs(ctx: Ctx): void {
  const small = new Set(['filesystem', 'git', 'memory', 'assets', 'notes', 'fetch']);
  for (const [service, name, bytes] of ctx.profile.logs) {
    const rng = ctx.rng.fork(`log:${service}:${name}`);
    const path = join(ctx.root, 'services', service, 'logs', name);
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'w', 0o644);
    try {
      let left = bytes;
      let t = Date.UTC(2024, 5, 1);
      while (left > 0) {
        const chunk = logText(rng, Math.min(left, 1 << 20), t, service);
        t += 1_000_000;
        writeSync(fd, chunk);
        left -= Buffer.byteLength(chunk);
      }
    } finally {
      closeSync(fd);
    }
    small.delete(service);
  }
  // Rotated logs beside the first large one: an older plain file and a gzip-compressed one.
  const first = ctx.profile.logs[0];
  if (first !== undefined) {
    const [service, name, bytes] = first;
    const rng = ctx.rng.fork('log:rotated');
    const dir = join(ctx.root, 'services', service, 'logs');
    put(join(dir, `${name}.1`), logText(rng, Math.floor(bytes / 8), Date.UTC(2024, 3, 1), service));
    put(join(dir, `${name}.2.gz`), gzipSync(logText(rng, Math.floor(bytes / 8), Date.UTC(2024, 1, 1), service), { level: 6 }));
  }
  for (const service of small) {
    const rng = ctx.rng.fork(`log:small:${service}`);
    put(join(ctx.root, 'services', service, 'logs', `${service}.log`), logText(rng, rng.range(2000, 40000), Date.UTC(2024, 6, 1), service));
  }
}

function relLink(fromFile: string, toPath: string): string {
  return posix.relative(posix.dirname(fromFile), toPath) || '.';
}

function writeFilesystem(ctx: Ctx): void {
  const { profile } = ctx;
  const rng = ctx.rng.fork('filesystem');
  writeConfig(ctx, 'filesystem', { allowedDirectories: ['/srv/shared-docs'], readOnly: false });
  const vol = join(ctx.root, 'services', 'filesystem', 'volumes');
  const base = 'shared-docs';

  // Folders: a tree grown by attaching each new folder under a random existing one (depth at most 8).
  const dirs: Array<{ rel: string; depth: number }> = [];
  const children = new Map<string, Set<string>>();
  const uniqueChild = (parent: string, name: string): string => {
    let set = children.get(parent);
    if (set === undefined) {
      set = new Set();
      children.set(parent, set);
    }
    let candidate = name;
    for (let n = 2; set.has(candidate); n++) candidate = `${name}-${n}`;
    set.add(candidate);
    return candidate;
  };
  for (const dept of DEPARTMENTS) dirs.push({ rel: `${base}/${uniqueChild(base, dept)}`, depth: 1 });
  while (dirs.length < profile.docDirs) {
    const parent = rng.pickSkewed(dirs);
    if (parent.depth >= 8) continue;
    const r = rng.next();
    const name = r < 0.3 ? String(rng.range(2018, 2025)) : r < 0.4 ? `Q${rng.range(1, 4)}` : fileStem(rng);
    dirs.push({ rel: `${parent.rel}/${uniqueChild(parent.rel, name)}`, depth: parent.depth + 1 });
  }
  for (const d of dirs) mkdirSync(join(vol, d.rel), { recursive: true });
  const shuffled = rng.shuffle(dirs);

  // Documents.
  const files: string[] = [];
  for (let i = 0; i < profile.docs; i++) {
    const dir = rng.pickSkewed(shuffled);
    const ext = docExt(rng);
    const stem = ext === '' ? rng.pick(['README', 'Makefile', 'NOTES', 'LICENSE', 'TODO']) : fileStem(rng);
    const name = uniqueChild(dir.rel, ext === '' ? stem : `${stem}.${ext}`);
    const rel = `${dir.rel}/${name}`;
    const mode = ext === 'sh' ? 0o755 : rng.chance(0.05) ? 0o600 : 0o644;
    put(join(vol, rel), docContent(rng, ext, smallDocSize(rng), ctx.prose), mode);
    files.push(rel);
  }

  // Media: random bytes behind a plausible header.
  for (let i = 0; i < profile.media; i++) {
    const dir = rng.pick(dirs);
    const ext = rng.pick(['png', 'jpg', 'pdf', 'zip']);
    const rel = `${dir.rel}/${uniqueChild(dir.rel, `${fileStem(rng)}.${ext}`)}`;
    putRandom(join(vol, rel), ctx.seed, `media:${i}`, rng.range(profile.mediaSize[0], profile.mediaSize[1]));
  }

  // Empty folders, and a few with restrictive modes.
  for (let i = 0; i < profile.emptyDirs; i++) {
    const parent = rng.pick(dirs);
    const name = uniqueChild(parent.rel, rng.pick(['archive', 'tmp', 'drafts', 'old', 'empty', 'à trier', 'attachments']));
    mkdirSync(join(vol, parent.rel, name), { recursive: true });
  }
  mkdirSync(join(vol, 'cache'), { recursive: true });
  mkdirSync(join(vol, '.trash'), { recursive: true });
  for (let i = 0; i < Math.max(1, Math.floor(profile.docDirs / 200)); i++) chmodSync(join(vol, rng.pick(dirs).rel), 0o700);

  // Symlinks: to files, to folders, dangling, and one absolute link outside the platform.
  for (let i = 0; i < profile.symlinks; i++) {
    const dir = rng.pick(dirs);
    const r = rng.next();
    let target: string;
    let name: string;
    if (r < 0.7 && files.length > 0) {
      const to = rng.pick(files);
      target = relLink(`${dir.rel}/x`, to);
      name = `latest-${posix.basename(to)}`;
    } else if (r < 0.9) {
      const to = rng.pick(dirs).rel;
      target = relLink(`${dir.rel}/x`, to);
      name = `current-${word(rng)}`;
    } else {
      target = `../missing/${word(rng)}-${rng.hex(4)}.md`;
      name = `dangling-${word(rng)}`;
    }
    name = uniqueChild(dir.rel, name);
    symlinkSync(target, join(vol, dir.rel, name));
  }
  symlinkSync('/usr/share/doc', join(vol, 'system-docs'));
}

function writeMemory(ctx: Ctx): void {
  const { profile } = ctx;
  const rng = ctx.rng.fork('memory');
  writeConfig(ctx, 'memory', { storeFile: '/srv/memory/memory.jsonl' });
  const vol = join(ctx.root, 'services', 'memory', 'volumes');
  mkdirSync(vol, { recursive: true });
  const names: string[] = [];
  const fd = openSync(join(vol, 'memory.jsonl'), 'w', 0o644);
  try {
    let buf: string[] = [];
    for (let i = 0; i < profile.memoryEntities; i++) {
      const name = `${rng.pick(FIRST_NAMES)}_${word(rng)}_${i}`;
      names.push(name);
      buf.push(JSON.stringify({
        type: 'entity', name, entityType: rng.pick(['person', 'project', 'organization', 'document', 'event', 'concept']),
        observations: Array.from({ length: rng.range(1, 5) }, () => sentence(rng)),
      }));
      if (i > 0 && rng.chance(0.6)) {
        buf.push(JSON.stringify({ type: 'relation', from: name, to: rng.pick(names), relationType: rng.pick(['works_on', 'knows', 'owns', 'mentions', 'depends_on']) }));
      }
      if (buf.length >= 2000) {
        writeSync(fd, buf.join('\n') + '\n');
        buf = [];
      }
    }
    if (buf.length > 0) writeSync(fd, buf.join('\n') + '\n');
  } finally {
    closeSync(fd);
  }
  for (let i = 0; i < profile.memoryStoreFiles; i++) {
    const id = `${rng.hex(8)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(12)}`;
    put(join(vol, 'store', id.slice(0, 2), `${id}.json`), jsonDocument(rng, rng.range(300, 3000)));
  }
  mkdirSync(join(vol, 'store', 'locks'), { recursive: true });
}

function writeAssets(ctx: Ctx): void {
  writeConfig(ctx, 'assets', { bucket: 'local', maxObjectBytes: 1 << 30 });
  for (const [rel, bytes] of ctx.profile.blobs) {
    putRandom(join(ctx.root, 'services', 'assets', 'volumes', rel), ctx.seed, `blob:${rel}`, bytes);
  }
}

/** A database-like file: 4 KiB pages of text records, zeros, and random (already compressed) payloads. */
function writeNotes(ctx: Ctx): void {
  const rng = ctx.rng.fork('notes');
  writeConfig(ctx, 'notes', { database: '/srv/notes/notes.sqlite' });
  const path = join(ctx.root, 'services', 'notes', 'volumes', 'notes.sqlite');
  mkdirSync(dirname(path), { recursive: true });
  const pages = Math.max(2, Math.floor(ctx.profile.notesDbBytes / 4096));
  const fd = openSync(path, 'w', 0o644);
  const random = randomBytesStream(ctx.seed, 'notes:pages', pages * 4096, 4096);
  try {
    const header = Buffer.alloc(4096);
    header.write('SQLite format 3\0', 0, 'latin1');
    header.writeUInt16BE(4096, 16);
    writeSync(fd, header);
    for (let p = 1; p < pages; p++) {
      const page = Buffer.alloc(4096);
      const r = rng.next();
      const noise = random.next().value as Buffer;
      if (r < 0.5) {
        let at = 8;
        while (at < 3900) {
          const rec = `${p}|${isoDate(rng)}|${sentence(rng)}`;
          at += page.write(rec, at, 'utf8') + 1;
        }
      } else if (r < 0.7) {
        noise.copy(page, 0, 0, 4096);
      } else {
        for (let i = 0; i < 64; i++) page.writeUInt32BE(rng.int(0xffffffff), rng.int(1023) * 4);
      }
      page[0] = 0x0d;
      writeSync(fd, page);
    }
  } finally {
    closeSync(fd);
  }
}

function writeFetch(ctx: Ctx): void {
  writeConfig(ctx, 'fetch', { userAgent: 'mcp-fetch/1.0', robots: true });
  mkdirSync(join(ctx.root, 'services', 'fetch', 'volumes'), { recursive: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Git repositories.

const REPO_NAMES = ['api-gateway', 'web-frontend', 'infra', 'docs-site', 'ml-pipeline', 'cli-tools', 'mobile-app',
  'data-platform', 'auth-service', 'billing', 'search', 'notifications'];

function loadCorpora(ctx: Ctx, roots: string[]): CorpusRoot[] {
  const need = Math.ceil(ctx.profile.repoFiles * 1.3);
  const out: CorpusRoot[] = [];
  for (const dir of roots) {
    if (!existsSync(dir)) continue;
    const c = collectCorpus(dir, need);
    if (c.files.length >= Math.min(need, 20)) out.push(c);
    if (out.length >= ctx.profile.repos) break;
  }
  return out;
}

function fastImportData(parts: Buffer[], text: string | Buffer): void {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  parts.push(Buffer.from(`data ${body.length}\n`), body, Buffer.from('\n'));
}

/** One line-level edit of a source file: replace, insert or delete a few lines, as a commit would. */
export function editSource(rng: Rng, text: string, donor: string): string {
  const lines = text.split('\n');
  const donorLines = donor.split('\n');
  const at = rng.int(lines.length + 1);
  const take = rng.range(1, 12);
  const from = rng.int(Math.max(1, donorLines.length - take));
  const insert = donorLines.slice(from, from + take);
  const r = rng.next();
  if (r < 0.5) lines.splice(at, rng.range(0, 6), ...insert);
  else if (r < 0.8) lines.splice(at, 0, ...insert);
  else lines.splice(at, rng.range(1, 8));
  return lines.join('\n');
}

const SAFE_REPO_PATH = /^[^"\n\\][^\n\\]*$/;

function writeGit(ctx: Ctx, corpora: CorpusRoot[], withGit: boolean): void {
  const { profile } = ctx;
  writeConfig(ctx, 'git', { repositories: '/srv/git/repos', allowPush: false });
  const reposDir = join(ctx.root, 'services', 'git', 'volumes', 'repos');
  mkdirSync(reposDir, { recursive: true });
  for (let r = 0; r < profile.repos; r++) {
    const rng = ctx.rng.fork(`git:${r}`);
    const name = REPO_NAMES[r % REPO_NAMES.length] + (r >= REPO_NAMES.length ? `-${Math.floor(r / REPO_NAMES.length) + 1}` : '');
    const corpus = corpora[r % corpora.length] ?? syntheticSource(rng, profile.repoFiles);
    // A contiguous slice of the corpus (coherent folders), from a seeded start.
    const pool = corpus.files.filter((f) => SAFE_REPO_PATH.test(f.rel));
    const start = pool.length > profile.repoFiles ? rng.int(pool.length - profile.repoFiles) : 0;
    const chosen = pool.slice(start, start + profile.repoFiles);
    const repo = join(reposDir, name);
    mkdirSync(repo, { recursive: true });
    let t = Date.UTC(2023, 0, 1) / 1000 + r * 86400 * 3;

    const current = new Map<string, string>();
    const firstBatch = Math.max(1, Math.floor(chosen.length * 0.3));
    const parts: Buffer[] = [];
    let nextFile = 0;
    for (let c = 0; c < profile.repoCommits; c++) {
      t += rng.range(600, 86400 * 2);
      const changes: Array<[string, string]> = [];
      const adds = c === 0 ? firstBatch : Math.ceil((chosen.length - firstBatch) / Math.max(1, profile.repoCommits - 1));
      for (let a = 0; a < adds && nextFile < chosen.length; a++, nextFile++) {
        const f = chosen[nextFile];
        if (f !== undefined) changes.push([f.rel, f.text]);
      }
      if (c > 0 && current.size > 0) {
        const keys = [...current.keys()];
        for (let m = rng.range(1, 6); m > 0; m--) {
          const path = rng.pick(keys);
          const donor = rng.pick(chosen).text;
          changes.push([path, editSource(rng, current.get(path) ?? '', donor)]);
        }
      }
      const who = rng.pick(FIRST_NAMES);
      const ident = `${who} <${who.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}@example.com> ${t} +0000`;
      parts.push(Buffer.from(`commit refs/heads/main\nauthor ${ident}\ncommitter ${ident}\n`));
      fastImportData(parts, `${c === 0 ? 'Initial import' : sentence(rng)}\n\n${paragraph2(rng)}\n`);
      for (const [path, text] of changes) {
        current.set(path, text);
        parts.push(Buffer.from(`M ${text.startsWith('#!') ? '100755' : '100644'} inline ${path}\n`));
        fastImportData(parts, text);
      }
      parts.push(Buffer.from('\n'));
    }
    if (withGit) {
      git(repo, ['init', '-q'], t);
      git(repo, ['fast-import', '--quiet', '--date-format=raw'], t, Buffer.concat(parts));
      git(repo, ['read-tree', '-u', '--reset', 'HEAD'], t);
      git(repo, ['tag', '-a', 'v1.0.0', '-m', 'First release'], t);
      // Ordinary commits on top: loose objects, reflog entries, an updated index.
      const keys = [...current.keys()];
      for (let c = 0; c < profile.looseCommits; c++) {
        t += rng.range(600, 86400);
        for (let m = rng.range(1, 4); m > 0; m--) {
          const path = rng.pick(keys);
          const text = editSource(rng, current.get(path) ?? '', rng.pick(chosen).text);
          current.set(path, text);
          writeFileSync(join(repo, path), text);
        }
        const added = `notes/${word(rng)}-${c}.md`;
        put(join(repo, added), markdownDocument(rng, rng.range(300, 3000), ctx.prose));
        current.set(added, '');
        git(repo, ['add', '-A'], t);
        git(repo, ['commit', '-q', '-m', sentence(rng)], t);
      }
      // Work in progress: one modified, uncommitted file.
      const wip = rng.pick(keys);
      writeFileSync(join(repo, wip), editSource(rng, current.get(wip) ?? '', rng.pick(chosen).text));
    } else {
      for (const [path, text] of current) put(join(repo, path), text);
    }
  }
  if (profile.repos > 0) symlinkSync(REPO_NAMES[0] ?? 'api-gateway', join(reposDir, 'current'));
}

function paragraph2(rng: Rng): string {
  return Array.from({ length: rng.range(0, 3) }, () => sentence(rng)).join(' ');
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Walks a tree in sorted order: counts files, folders and symlinks, and (when `fixTimes`) gives every entry a
 * deterministic mtime in 2024 derived from the seed and its path (folders after their content).
 */
export function walkStats(root: string, fixTimes?: { seed: number }): Omit<DatasetStats, 'corpus' | 'git'> {
  const stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const base = Date.UTC(2024, 0, 1) / 1000;
  const timeOf = (rel: string): number => base + ((hash32(`${fixTimes?.seed ?? 0}:${rel}`) % (365 * 86400)) >>> 0);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      if (st.isDirectory()) {
        stats.dirs++;
        walk(p);
        if (fixTimes) utimesSync(p, timeOf(rel), timeOf(rel));
      } else if (st.isSymbolicLink()) {
        stats.symlinks++;
        if (fixTimes) lutimesSync(p, timeOf(rel), timeOf(rel));
      } else {
        stats.files++;
        stats.bytes += st.size;
        if (fixTimes) utimesSync(p, timeOf(rel), timeOf(rel));
      }
    }
  };
  walk(root);
  return stats;
}

/** Reads up to `max` characters of real prose from /usr/share/doc (for documents); synthetic text otherwise. */
function loadProse(rng: Rng, roots: string[], max: number): string {
  const doc = roots.find((r) => r.includes('/share/doc'));
  if (doc === undefined || !existsSync(doc)) return '';
  const c = collectCorpus(doc, 400);
  let out = '';
  for (const f of rng.shuffle(c.files)) {
    out += f.text + '\n\n';
    if (out.length > max) break;
  }
  return out.slice(0, max);
}

/**
 * Generates the platform into `dir` (which must not exist or be empty). Returns its statistics.
 */
export function generatePlatform(dir: string, options: GenerateOptions): DatasetStats {
  const profile = PROFILES[options.size];
  const log = options.log ?? ((): void => undefined);
  const roots = options.corpusRoots ?? DEFAULT_CORPUS_ROOTS;
  const oldUmask = process.umask(0o022);
  try {
    mkdirSync(dir, { recursive: true });
    const rng = new Rng(options.seed);
    const ctx: Ctx = { root: dir, seed: options.seed, rng, profile, log, prose: loadProse(rng.fork('prose'), roots, 2 * MB) };
    log('filesystem service (small documents, symlinks, empty folders)');
    writeFilesystem(ctx);
    log('git service (repositories from real text on this machine)');
    const withGit = hasGit();
    const corpora = loadCorpora(ctx, roots);
    writeGit(ctx, corpora, withGit);
    log('memory, assets, notes, fetch services');
    writeMemory(ctx);
    writeAssets(ctx);
    writeNotes(ctx);
    writeFetch(ctx);
    log('logs');
    writeLogs(ctx);
    log('fixing modification times');
    const stats = walkStats(dir, { seed: options.seed });
    return {
      ...stats,
      corpus: corpora.map((c) => ({ root: c.dir, files: c.files.length })),
      git: withGit,
    };
  } finally {
    process.umask(oldUmask);
  }
}

export interface Dataset {
  /** The platform root. */
  dir: string;
  stats: DatasetStats;
  size: DatasetSize;
  seed: number;
  reused: boolean;
}

interface Marker {
  generatorVersion: number;
  size: DatasetSize;
  seed: number;
  createdAt: string;
  generateSeconds: number;
  stats: DatasetStats;
}

/**
 * The cached dataset `<cacheDir>/<size>-<seed>/platform`, generated when missing (or when `regenerate`). A marker
 * file (dataset.json) is written last, so an interrupted generation is redone.
 */
export function ensureDataset(cacheDir: string, size: DatasetSize, seed: number, regenerate: boolean, log: (m: string) => void): Dataset {
  const home = join(cacheDir, `${size}-${seed}`);
  const markerPath = join(home, 'dataset.json');
  const platform = join(home, 'platform');
  if (!regenerate && existsSync(markerPath) && existsSync(platform)) {
    try {
      const marker = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
      if (marker.generatorVersion === GENERATOR_VERSION && marker.size === size && marker.seed === seed) {
        return { dir: platform, stats: marker.stats, size, seed, reused: true };
      }
    } catch {
      // regenerate below
    }
  }
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  const partial = join(home, 'platform.partial');
  const started = Date.now();
  const stats = generatePlatform(partial, { size, seed, log });
  renameSync(partial, platform);
  const marker: Marker = {
    generatorVersion: GENERATOR_VERSION, size, seed, createdAt: new Date().toISOString(),
    generateSeconds: (Date.now() - started) / 1000, stats,
  };
  writeFileSync(markerPath, JSON.stringify(marker, null, 2) + '\n');
  return { dir: platform, stats, size, seed, reused: false };
}
