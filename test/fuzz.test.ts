/**
 * Fuzzing verify and restore. From small valid backups (a full and an incremental on it; plain tar, gzip,
 * encrypted to a public key, encrypted with a passphrase), a fixed seed makes random mutations (flipped bytes,
 * truncation, duplicated and zeroed ranges, and for metadata.json also fields given hostile values) of the archives,
 * the manifest copies and the index. For each case, list, show --files, verify --all and restore --target run through
 * the library. Every outcome must be success or a BackupError; nothing may hang; nothing may be written outside
 * backup/temp/ and the restore target; a restore that succeeds must give exactly the backed-up files; a changed
 * archive or manifest copy must never verify clean.
 *
 * The cases run in one child process (one start-up) with a watchdog: a case that makes no progress for
 * CASE_TIMEOUT_MS is killed and named. The library is the built one (dist/), as `npm test` builds first.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/cli.js';
import { snapshotTree, tempDir, writeTree, type TreeRecord } from './helpers/tree.js';
import { openPlatform, type BackupRecord, type DecryptionKey, type EncryptionKey } from '../src/index.js';
import { seeded as random } from './helpers/random.js';

const SEED = 0x5eed_2026;
const CASES = 160;
const CASE_TIMEOUT_MS = 15_000;

const YAML = `services:
  notes:
    config:  [services/notes/config]
    volumes: [services/notes/data]
  store:
    volumes: [services/store/data]
`;

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!;

/** One random byte-level mutation; returns its description. */
function mutateBytes(rng: Rng, data: Buffer): { data: Buffer; what: string } {
  if (data.length === 0) return { data: Buffer.from([int(rng, 256)]), what: 'filled an empty file' };
  const at = int(rng, data.length);
  const length = 1 + int(rng, Math.min(512, data.length - at));
  switch (int(rng, 5)) {
    case 0: {
      const out = Buffer.from(data);
      const flips = 1 + int(rng, 4);
      for (let i = 0; i < flips; i++) out[int(rng, out.length)]! ^= 1 + int(rng, 255);
      return { data: out, what: `flipped ${flips} byte(s)` };
    }
    case 1:
      return { data: data.subarray(0, at), what: `truncated to ${at} bytes` };
    case 2: {
      const to = int(rng, data.length + 1);
      return { data: Buffer.concat([data.subarray(0, to), data.subarray(at, at + length), data.subarray(to)]), what: `duplicated ${length} bytes from ${at} at ${to}` };
    }
    case 3: {
      const out = Buffer.from(data);
      out.fill(0, at, at + length);
      return { data: out, what: `zeroed ${length} bytes at ${at}` };
    }
    default: {
      const out = Buffer.from(data);
      out.fill(0xff, at, at + length);
      return { data: out, what: `set ${length} bytes at ${at} to 0xff` };
    }
  }
}

const HOSTILE_VALUES: unknown[] = [null, -1, 0, 1e300, 2 ** 53, '', '../../outside', '/etc/passwd', [], {}, true, 'x'.repeat(10_000), { mode: 'none' }];

/** A structured mutation of metadata.json: one field of one record (or of the file) given a hostile value. */
function mutateIndex(rng: Rng, text: string): { data: Buffer; what: string } {
  const index = JSON.parse(text) as { backups: Record<string, unknown>[]; [key: string]: unknown };
  const record = pick(rng, index.backups);
  const keys = Object.keys(record);
  const key = rng() < 0.1 ? pick(rng, ['pendingRemoval', 'schemaVersion']) : pick(rng, keys);
  const value = rng() < 0.2 ? (index.backups.find((r) => r !== record)?.[key] ?? null) : pick(rng, HOSTILE_VALUES);
  if (key === 'pendingRemoval' || key === 'schemaVersion') index[key] = value;
  else if (rng() < 0.1) delete record[key];
  else record[key] = value;
  return { data: Buffer.from(JSON.stringify(index)), what: `metadata.json: ${key} = ${JSON.stringify(value)?.slice(0, 40)}` };
}

interface Variant {
  name: string;
  root: string;
  key?: DecryptionKey;
  incremental: BackupRecord;
  full: BackupRecord;
}

interface Case {
  i: number;
  variant: string;
  root: string;
  target: string;
  id: string;
  key?: DecryptionKey;
  mutations: string[];
  /** True when an archive or a manifest copy was changed: verify must not call everything ok. */
  objectsChanged: boolean;
}

interface Outcome {
  ok?: true;
  code?: string;
  message?: string;
  crash?: string;
}

interface CaseResult {
  i: number;
  actions: Record<string, Outcome>;
  verifyAllOk?: boolean;
  unhandled?: string;
}

const DRIVER = `
import { readFileSync } from 'node:fs';
const [libraryUrl, casesFile] = process.argv.slice(-2);
const { openPlatform } = await import(libraryUrl);
let current;
const report = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
process.on('unhandledRejection', (e) => report({ i: current, actions: {}, unhandled: String(e && e.stack || e) }));
process.on('uncaughtException', (e) => report({ i: current, actions: {}, unhandled: String(e && e.stack || e) }));
for (const c of JSON.parse(readFileSync(casesFile, 'utf8'))) {
  current = c.i;
  process.stderr.write('start ' + c.i + '\\n');
  const result = { i: c.i, actions: {} };
  const attempt = async (name, fn) => {
    try {
      await fn();
      result.actions[name] = { ok: true };
    } catch (e) {
      result.actions[name] = e && e.name === 'BackupError' && typeof e.code === 'string' ? { code: e.code, message: e.message } : { crash: String(e && e.stack || e) };
    }
  };
  let manager;
  await attempt('open', async () => { manager = await openPlatform({ platform: c.root, cwd: c.root }); });
  if (manager) {
    const key = c.key ? { key: c.key } : {};
    await attempt('list', () => manager.list());
    await attempt('show', () => manager.show(c.id, { files: true, ...key }));
    await attempt('verify', async () => { result.verifyAllOk = (await manager.verify({ all: true, ...key })).every((r) => r.ok); });
    await attempt('restore', () => manager.restore({ id: c.id, target: c.target, ...key }));
  }
  report(result);
}
process.stdout.write('', () => process.exit(0));
`;

/** Runs the cases in one child process; a case with no progress for CASE_TIMEOUT_MS is killed and reported as hung. */
function runCases(casesFile: string): Promise<{ results: CaseResult[]; hung?: number; stderr: string }> {
  return new Promise((resolve) => {
    const library = pathToFileURL(path.join(REPO_ROOT, 'dist/index.js')).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', DRIVER, library, casesFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let current: number | undefined;
    let hung: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const watch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = current;
        child.kill('SIGKILL');
      }, CASE_TIMEOUT_MS);
    };
    watch();
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const started = [...stderr.matchAll(/^start (\d+)$/gm)].at(-1);
      if (started) current = Number(started[1]);
      watch();
    });
    child.on('close', () => {
      clearTimeout(timer);
      const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as CaseResult);
      resolve({ results, ...(hung !== undefined && { hung }), stderr });
    });
  });
}

const work = tempDir('mcp-fuzz-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let variants: Variant[];
let expected: Record<string, TreeRecord>;

/** A platform with a full backup and an incremental on it, in the given variant. */
async function makeVariant(name: string, create: { compress?: boolean; encryption?: EncryptionKey }, key?: DecryptionKey): Promise<Variant> {
  const root = path.join(work, `variant-${name}`);
  writeTree(root, {
    'platform.yaml': YAML,
    services: {
      notes: {
        config: { 'notes.json': '{"theme": "dark"}\n' },
        data: { 'today.md': '# Today\n', deep: { 'a.txt': 'alpha\n'.repeat(50), 'b.bin': Buffer.alloc(3000, 9) }, 'link.md': { symlink: 'today.md' } },
      },
      store: { data: { 'memory.json': '{"entities": []}\n', empty: {} } },
    },
  });
  const manager = await openPlatform({ platform: root, cwd: root });
  const { record: full } = await manager.create({ type: 'full', ...create });
  fs.writeFileSync(path.join(root, 'services/notes/data/today.md'), '# Today\n- fuzz\n');
  fs.rmSync(path.join(root, 'services/notes/data/deep/b.bin'));
  fs.writeFileSync(path.join(root, 'services/store/data/new.txt'), 'new\n');
  const { record: incremental } = await manager.create({ type: 'incremental', ...create, ...(key && { decryptionKey: key }) });
  return { name, root, full, incremental, ...(key && { key }) };
}

beforeAll(async () => {
  const identityFile = path.join(work, 'key.txt');
  execFileSync('age-keygen', ['-o', identityFile], { stdio: 'pipe' });
  const identity = fs.readFileSync(identityFile, 'utf8').match(/AGE-SECRET-KEY-1\S+/)![0];
  const recipient = execFileSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).trim();
  const passphrase = { mode: 'passphrase' as const, passphrase: 'fuzzing is fun', workFactor: 10 };
  variants = [
    await makeVariant('tar', { compress: false }),
    await makeVariant('gzip', {}),
    await makeVariant('age', { encryption: { mode: 'recipients', recipients: [recipient] } }, { identities: [identity] }),
    await makeVariant('scrypt', { encryption: passphrase }, { passphrase: passphrase.passphrase }),
  ];
  // What any successful restore of the incremental must give, whatever the variant.
  const reference = path.join(work, 'reference');
  const gzip = variants[1]!;
  await (await openPlatform({ platform: gzip.root, cwd: gzip.root })).restore({ id: gzip.incremental.id, target: reference });
  expected = snapshotTree(reference);
});

/** Makes the index record that names `name` carry the SHA-256 (and size) of `data`; false when the index does not parse. */
function fixChecksums(root: string, name: string, data: Buffer): boolean {
  const file = path.join(root, 'backup/metadata.json');
  try {
    const index = JSON.parse(fs.readFileSync(file, 'utf8')) as { backups: BackupRecord[] };
    const sha256 = createHash('sha256').update(data).digest('hex');
    for (const record of index.backups) {
      if (record.archive === name) Object.assign(record, { sha256, size: data.length });
      if (record.manifest === name) record.manifestSha256 = sha256;
    }
    fs.writeFileSync(file, JSON.stringify(index));
    return true;
  } catch {
    return false;
  }
}

/** Everything a case may not change: the whole case folder but backup/temp/ and the restore target. */
function untouchable(root: string): Record<string, TreeRecord> {
  return snapshotTree(root, { mtimes: true, skip: (rel) => rel === 'target' || rel.startsWith('target/') || rel.startsWith('backup/temp') });
}

describe('fuzzing verify and restore', () => {
  it(`${CASES} mutated backups: only BackupErrors, no hang, no write outside temp/, exact restores`, { timeout: 180_000 }, async () => {
    const rng = random(SEED);
    const cases: Case[] = [];
    const snapshots = new Map<number, Record<string, TreeRecord>>();
    for (let i = 0; i < CASES; i++) {
      const variant = variants[i % variants.length]!;
      const root = path.join(work, `case-${i}`);
      fs.cpSync(variant.root, root, { recursive: true, verbatimSymlinks: true });
      const archives = path.join(root, 'backup/archives');
      const objects = [variant.full, variant.incremental].flatMap((r) => [r.archive, r.manifest]);
      const mutations: string[] = [];
      let objectsChanged = false;
      const count = rng() < 0.8 ? 1 : 2;
      for (let m = 0; m < count; m++) {
        const where = rng();
        if (where < 0.2) {
          const file = path.join(root, 'backup/metadata.json');
          const text = fs.readFileSync(file);
          const { data, what } = rng() < 0.5 ? mutateIndex(rng, text.toString()) : mutateBytes(rng, text);
          fs.writeFileSync(file, data);
          mutations.push(what.startsWith('metadata.json') ? what : `metadata.json: ${what}`);
        } else {
          const name = pick(rng, objects);
          const file = path.join(archives, name);
          const before = fs.readFileSync(file);
          const { data, what } = mutateBytes(rng, before);
          fs.writeFileSync(file, data);
          // Half the time the index is made to agree (an attacker who can write the backup folder can), so what is
          // tested is decryption, decompression and parsing, not only the checksum.
          const agreed = rng() < 0.5 && fixChecksums(root, name, data);
          objectsChanged ||= !data.equals(before) && !agreed;
          mutations.push(`${name}: ${what}${agreed ? ', checksums in the index updated' : ''}`);
        }
      }
      cases.push({ i, variant: variant.name, root, target: path.join(root, 'target'), id: variant.incremental.id, ...(variant.key && { key: variant.key }), mutations, objectsChanged });
      snapshots.set(i, untouchable(root));
    }
    const casesFile = path.join(work, 'cases.json');
    fs.writeFileSync(casesFile, JSON.stringify(cases));

    const { results, hung, stderr } = await runCases(casesFile);
    const describeCase = (i: number) => JSON.stringify(cases[i]);
    expect(hung, hung === undefined ? '' : `hung: ${describeCase(hung)}`).toBeUndefined();
    expect(results.map((r) => r.i), stderr.slice(-2000)).toEqual(cases.map((c) => c.i));

    const problems: string[] = [];
    const codes = new Map<string, number>();
    for (const result of results) {
      const c = cases[result.i]!;
      const label = `case ${c.i} (${c.variant}; ${c.mutations.join('; ')})`;
      if (result.unhandled) problems.push(`${label}: unhandled ${result.unhandled}`);
      for (const [action, outcome] of Object.entries(result.actions)) {
        if (outcome.crash) problems.push(`${label}: ${action} threw a non-BackupError: ${outcome.crash}`);
        if (outcome.code) codes.set(`${action}:${outcome.code}`, (codes.get(`${action}:${outcome.code}`) ?? 0) + 1);
        if (outcome.message?.includes('\n')) problems.push(`${label}: ${action} error of more than one line: ${outcome.message}`);
      }
      if (c.objectsChanged && result.verifyAllOk) problems.push(`${label}: verify called every backup ok`);
      const untouched = untouchable(c.root);
      if (JSON.stringify(untouched) !== JSON.stringify(snapshots.get(c.i))) problems.push(`${label}: files outside backup/temp/ and the target changed`);
      if (result.actions.restore?.ok) {
        if (JSON.stringify(snapshotTree(c.target)) !== JSON.stringify(expected)) problems.push(`${label}: restore succeeded with content that differs from the backup`);
      } else if (fs.existsSync(c.target) && fs.readdirSync(c.target).length > 0) {
        problems.push(`${label}: a failed restore left files in the target: ${fs.readdirSync(c.target).join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
    // The fuzz reached past the checksums: some cases failed in decryption, decompression or parsing, not only
    // on a checksum, and some restores still succeeded (a damaged manifest copy falls back to the archive's).
    expect([...codes.keys()].sort().join(' ')).toMatch(/verify:|restore:INTEGRITY/);
    expect(results.filter((r) => r.actions.restore?.ok).length).toBeGreaterThan(0);
  });
});
