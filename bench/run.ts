/**
 * `npm run bench`: times `mcp backup` side by side with GNU tar (and restic / borg when installed) on a generated
 * platform, and prints one table (also written as JSON). See bench/README.md for what each row measures.
 *
 *   npm run bench -- [--size tiny|small|full|double] [--runs N] [--seed N] [--json FILE] [--only op1,op2]
 *                    [--regenerate] [--keep] [--timeout-minutes N]
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync, existsSync, linkSync, mkdtempSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync,
  rmSync, statfsSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DATASET_SIZES, ensureDataset, GENERATOR_VERSION, walkStats, type DatasetSize } from './generate.js';
import { failureLine, hasGnuTime, killActive, runMeasured, summarize, type CommandSpec, type RunResult, type Summary } from './measure.js';
import { mutatePlatform, type MutationSummary } from './mutate.js';
import { cloneIndex, indentOf, type Json } from './clone-index.js';
import { updateIndex } from '../src/metadata/store.js';
import { backupLayout } from '../src/repository/layout.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(REPO, 'bench', '.data');
const CLI = join(REPO, 'bin', 'mcp.js');
const LEVEL = 6;
const LIST_RECORDS = 10_000;

export const OPERATIONS = ['full', 'inc-nochange', 'inc-1pct', 'restore-full', 'restore-chain', 'verify', 'list'] as const;
type Operation = (typeof OPERATIONS)[number];

const TITLES: Record<Operation, string> = {
  full: 'full backup',
  'inc-nochange': 'incremental, no change',
  'inc-1pct': 'incremental, 1% changed',
  'restore-full': 'restore full (empty dir)',
  'restore-chain': 'restore tip of 3-step chain',
  verify: 'verify full backup',
  list: `list --json (${LIST_RECORDS.toLocaleString('en-US')} records)`,
};

// ---------------------------------------------------------------------------------------------------------------
// Arguments.

interface Options {
  size: DatasetSize;
  runs: number;
  seed: number;
  json: string;
  only: Set<Operation>;
  regenerate: boolean;
  keep: boolean;
  timeoutMs: number;
  restoreDir: string | null;
}

const USAGE = `Usage: npm run bench -- [options]

  --size tiny|small|full|double  dataset: ~2 MB, ~50 MB / 5k files, ~700 MB / 70k files (default), ~1.4 GB
  --runs N                       timed runs per operation and tool (default 3; 1 for double)
  --seed N                       dataset and change seed (default 42)
  --json FILE                    where to write the results (default bench/results/latest.json)
  --only op1,op2                 ${OPERATIONS.join(', ')}
  --regenerate                   regenerate the cached dataset (bench/.data/<size>-<seed>)
  --keep                         keep the work folder (bench/.data/work) afterwards
  --timeout-minutes N            kill a command after N minutes (default 30)
  --restore-dir DIR              restore into new folders under DIR (e.g. on tmpfs) instead of bench/.data/work
`;

function usageError(msg: string): never {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  try {
    return checkedOptions(argv);
  } catch (error) {
    // parseArgs' own refusals (an unknown option, a missing value): a usage error, not a crash.
    return usageError((error as Error).message);
  }
}

function checkedOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: 'full' },
      runs: { type: 'string' },
      seed: { type: 'string', default: '42' },
      json: { type: 'string', default: join('bench', 'results', 'latest.json') },
      only: { type: 'string' },
      regenerate: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'timeout-minutes': { type: 'string', default: '30' },
      'restore-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const size = values.size as DatasetSize;
  if (!DATASET_SIZES.includes(size)) usageError(`unknown --size ${values.size}`);
  const runs = values.runs === undefined ? (size === 'double' ? 1 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) usageError(`--runs must be a positive integer`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) usageError(`--seed must be a non-negative integer`);
  const only = new Set<Operation>();
  for (const op of (values.only ?? OPERATIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(OPERATIONS as readonly string[]).includes(op)) usageError(`unknown operation in --only: ${op}`);
    only.add(op as Operation);
  }
  const timeout = Number(values['timeout-minutes']);
  if (!(timeout > 0)) usageError('--timeout-minutes must be positive');
  return { size, runs, seed, json: resolve(values.json), only, regenerate: values.regenerate, keep: values.keep, timeoutMs: timeout * 60_000,
    restoreDir: values['restore-dir'] !== undefined ? resolve(values['restore-dir']) : null };
}

// ---------------------------------------------------------------------------------------------------------------
// Results.

interface RunRecord {
  wallMs: number;
  peakTreeBytes: number;
  maxRssSingleBytes: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
  sizeBytes: number | null;
}

interface Cell {
  tool: string;
  command: string;
  runs: RunRecord[];
  summary: Summary | null;
  sizeBytes: number | null;
  error: string | null;
  skipped: string | null;
  /** First characters of the last successful run's stdout (ours only), to see what the tool reported. */
  output?: string;
}

interface Row {
  id: Operation;
  title: string;
  ours: Cell;
  baseline: Cell | null;
  extras: Cell[];
  /** ours median / baseline median. */
  ratio: number | null;
  notes: string[];
}

function cell(tool: string, command: string): Cell {
  return { tool, command, runs: [], summary: null, sizeBytes: null, error: null, skipped: null };
}

function skippedCell(tool: string, reason: string): Cell {
  return { ...cell(tool, '-'), skipped: reason };
}

/** One tool's side of an operation: untimed preparation, the timed command, untimed checks afterwards. */
interface Side {
  cell: Cell;
  prepare?: (run: number) => void;
  spec: (run: number) => CommandSpec;
  /** Returns the output size of the run (bytes) or null; may throw to mark the side as failed. */
  after?: (result: RunResult, run: number) => number | null;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? String(e);
}

function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/**
 * Runs every side `runs` times, interleaved (ours, tar, ..., ours, tar, ...) so drift affects them alike. `warm`,
 * when given, runs untimed before each timed run: it reads what the run will read (the data for a backup, the
 * archives for a restore), so every run of either tool starts from the same page cache. This VM's kernel pages out
 * data left untouched for a minute (DAMON reclaim), so without it whichever run came after a long pause read from
 * disk and the others did not.
 */
async function measureSides(op: string, runs: number, sides: Side[], scratch: string, timeoutMs: number, warm?: () => void): Promise<void> {
  for (let run = 0; run < runs; run++) {
    for (const side of sides) {
      const c = side.cell;
      if (c.error !== null || c.skipped !== null) continue;
      try {
        side.prepare?.(run);
        warm?.();
        // Flush dirty pages first, so one run's writeback is not paid by the next (restores vary a lot otherwise).
        execFileSync('sync');
        const res = await runMeasured({ timeoutMs, ...side.spec(run) }, scratch);
        if (!res.ok) {
          c.error = failureLine(res);
          progress(`${op}: ${c.tool} failed: ${c.error}`);
          continue;
        }
        const size = side.after ? side.after(res, run) : null;
        c.runs.push({
          wallMs: res.wallMs, peakTreeBytes: res.peakTreeBytes, maxRssSingleBytes: res.maxRssSingleBytes,
          userSeconds: res.userSeconds, systemSeconds: res.systemSeconds, sizeBytes: size,
        });
        if (size !== null) c.sizeBytes = size;
        if (c.tool === 'ours') c.output = res.stdout.slice(0, 600);
        progress(`${op}: ${c.tool} run ${run + 1}/${runs}: ${(res.wallMs / 1000).toFixed(2)} s, peak ${mib(res.peakTreeBytes)}`);
      } catch (e) {
        c.error = firstLine(e);
        progress(`${op}: ${c.tool} failed: ${c.error}`);
      }
    }
  }
  for (const side of sides) side.cell.summary = summarize(side.cell.runs);
}

// ---------------------------------------------------------------------------------------------------------------
// File helpers.

/**
 * Copies a folder; files of 1 MiB and more are hard-linked instead (archives are written once and never modified
 * in place; the index is replaced by rename), so saving and restoring a backup folder's state is cheap.
 */
function snapshotDir(src: string, dst: string): void {
  rmSync(dst, { recursive: true, force: true });
  const rec = (s: string, d: string): void => {
    const st = lstatSync(s);
    if (st.isDirectory()) {
      mkdirSync(d, { mode: st.mode & 0o7777 });
      for (const name of readdirSync(s)) rec(join(s, name), join(d, name));
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(s), d);
    } else if (st.isFile()) {
      if (st.size >= 1 << 20) linkSync(s, d);
      else copyFileSync(s, d);
    }
  };
  rec(src, dst);
}

/** Regular files (recursively) with their sizes, by relative path. */
function listFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(dir)) return out;
  const rec = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) rec(p);
      else if (st.isFile()) out.set(relative(dir, p), st.size);
    }
  };
  rec(dir);
  return out;
}

function duBytes(dir: string): number {
  let sum = 0;
  for (const size of listFiles(dir).values()) sum += size;
  return sum;
}

function fileSize(path: string): number | null {
  try {
    return lstatSync(path).size;
  } catch {
    return null;
  }
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 }).toString('utf8');
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

function versionOf(cmd: string, args: string[] = ['--version']): string | null {
  try {
    return sh(cmd, args).split('\n')[0]?.trim() ?? null;
  } catch {
    return null;
  }
}

function mib(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes >= 10 * 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function secs(ms: number): string {
  return ms >= 100_000 ? (ms / 1000).toFixed(0) : ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2);
}

/** A platform of one tiny service, whose backup folder holds `index` as its metadata.json and no archive. */
function listPlatform(dir: string, index: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'services', 'demo', 'config'), { recursive: true });
  writeFileSync(join(dir, 'services', 'demo', 'config', 'demo.json'), '{}\n');
  mkdirSync(join(dir, 'backup', 'archives'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'backup', 'metadata.json'), index, { mode: 0o600 });
}

/** The number of entries in `list --json` output (an array, or the first array in an object). */
function countListed(stdout: string): number | null {
  try {
    const v = JSON.parse(stdout) as Json;
    if (Array.isArray(v)) return v.length;
    if (v !== null && typeof v === 'object') {
      for (const x of Object.values(v)) if (Array.isArray(x)) return x.length;
    }
  } catch {
    return null;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// The table.

function cellTime(c: Cell, footnotes: string[]): string {
  if (c.skipped !== null) {
    footnotes.push(`${c.tool}: skipped: ${c.skipped}`);
    return `skipped [${footnotes.length}]`;
  }
  if (c.summary !== null) {
    const s = c.summary;
    const range = c.runs.length > 1 ? ` (${secs(s.minMs)}-${secs(s.maxMs)})` : '';
    const err = c.error !== null ? ` [${footnotes.push(`${c.tool}: a later run failed: ${c.error}`)}]` : '';
    return `${secs(s.medianMs)} s${range}${err}`;
  }
  if (c.error !== null) {
    footnotes.push(`${c.tool}: ${c.error}`);
    return `FAILED [${footnotes.length}]`;
  }
  return '-';
}

function renderTable(rows: Row[], extraTools: string[]): { text: string; footnotes: string[] } {
  const footnotes: string[] = [];
  const header = ['operation', 'ours median (min-max)', 'baseline median (min-max)', 'ratio', 'ours size', 'baseline size',
    'ours peak', 'baseline peak', ...extraTools.map((t) => `${t} (size, peak)`)];
  const lines: string[][] = [header];
  for (const row of rows) {
    const notesBefore = footnotes.length;
    const ours = cellTime(row.ours, footnotes);
    const base = row.baseline ? cellTime(row.baseline, footnotes) : '-';
    const line = [
      row.title,
      ours,
      base,
      row.ratio !== null ? `${row.ratio.toFixed(2)}x` : '-',
      mib(row.ours.sizeBytes),
      row.baseline ? mib(row.baseline.sizeBytes) : '-',
      row.ours.summary ? mib(row.ours.summary.peakBytes) : '-',
      row.baseline?.summary ? mib(row.baseline.summary.peakBytes) : '-',
    ];
    for (const tool of extraTools) {
      const c = row.extras.find((x) => x.tool === tool);
      if (!c) line.push('-');
      else {
        const t = cellTime(c, footnotes);
        line.push(c.summary ? `${t} (${mib(c.sizeBytes)}, ${mib(c.summary.peakBytes)})` : t);
      }
    }
    for (const note of row.notes) footnotes.push(`${row.title}: ${note}`);
    if (row.notes.length > 0) line[0] = `${line[0]} [${notesBefore + 1}..${footnotes.length}]`.replace(/\[(\d+)\.\.\1\]/, '[$1]');
    lines.push(line);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => [...(l[i] ?? '')].length)));
  const fmt = (l: string[]): string => l.map((c, i) => c + ' '.repeat((widths[i] ?? 0) - [...c].length)).join(' | ').trimEnd();
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.slice(1).map(fmt)];
  return { text: out.join('\n'), footnotes };
}

// ---------------------------------------------------------------------------------------------------------------
// The benchmark.

interface Counts {
  files: number;
  symlinks: number;
  bytes: number;
}

function countTree(dir: string): Counts {
  const s = walkStats(dir);
  return { files: s.files, symlinks: s.symlinks, bytes: s.bytes };
}

function checkRestore(what: string, target: string, expected: Counts, notes: string[]): void {
  const got = countTree(target);
  if (got.files !== expected.files || got.bytes !== expected.bytes || got.symlinks !== expected.symlinks) {
    notes.push(`${what} restored ${got.files} files, ${got.symlinks} symlinks, ${got.bytes} bytes; ` +
      `expected ${expected.files}, ${expected.symlinks}, ${expected.bytes}`);
  }
}

/** Finds the id of the backup just created: from `create --json` output, else any id-looking token. */
function backupIdFrom(res: RunResult): string | null {
  try {
    const v = JSON.parse(res.stdout) as Json;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (typeof v.id === 'string') return v.id;
      for (const x of Object.values(v)) {
        if (x !== null && typeof x === 'object' && !Array.isArray(x) && typeof x.id === 'string') return x.id;
      }
    }
  } catch {
    // not JSON
  }
  return /\b\d{8}T\d{6}Z-[a-z]+-[0-9a-z]+\b/.exec(`${res.stdout}\n${res.stderr}`)?.[0] ?? null;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = Date.now();
  process.on('SIGINT', () => {
    killActive();
    process.exit(130);
  });

  const cores = availableParallelism();
  const machine = {
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    tar: versionOf('tar'),
    gzip: versionOf('gzip'),
    gnuTime: hasGnuTime(),
    restic: which('restic') ? versionOf('restic', ['version']) : null,
    borg: which('borg') ? versionOf('borg', ['--version']) : null,
  };
  // Which code was measured: the commit, and whether src/ or bin/ had uncommitted changes.
  let code: { commit: string | null; dirty: boolean | null } = { commit: null, dirty: null };
  try {
    code = {
      commit: sh('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']).trim(),
      dirty: sh('git', ['-C', REPO, 'status', '--porcelain', '--', 'src', 'bin', 'package.json']).trim() !== '',
    };
  } catch {
    // not a git checkout
  }
  if (machine.tar === null || !/GNU tar/.test(machine.tar)) progress(`warning: GNU tar not found (tar --version: ${machine.tar ?? 'none'})`);

  // Dataset, cached; then a fresh working copy (the benchmark changes it).
  progress(`dataset ${opts.size}, seed ${opts.seed}: ${opts.regenerate ? 'regenerating' : 'looking in the cache'} (${relative(REPO, DATA)})`);
  const genStart = Date.now();
  const dataset = ensureDataset(DATA, opts.size, opts.seed, opts.regenerate, (m) => progress(`generate: ${m}`));
  progress(`dataset ${dataset.reused ? 'reused' : `generated in ${((Date.now() - genStart) / 1000).toFixed(1)} s`}: ` +
    `${dataset.stats.files} files, ${dataset.stats.dirs} folders, ${dataset.stats.symlinks} symlinks, ${mib(dataset.stats.bytes)}`);

  const work = join(DATA, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const fs = statfsSync(work);
    const free = fs.bavail * fs.bsize;
    // The data and its copies, the archives, and every restore target (kept until the end: see below).
    const need = dataset.stats.bytes * (6 + 4 * opts.runs);
    if (free < need) progress(`warning: ${mib(free)} free, the run may need about ${mib(need)}`);
  } catch {
    // statfs not available
  }
  const P = join(work, 'platform');
  progress('copying the dataset into the work folder');
  // Only services/: whatever else is in the cache (someone may have run the tool on it) stays out.
  mkdirSync(P);
  sh('cp', ['-a', join(dataset.dir, 'services'), join(P, 'services')]);
  const scratch = join(work, 'scratch');
  const tarDir = join(work, 'tar');
  // Restore targets stay until the whole run is over, removed with the work folder: deleting tens of thousands of
  // files slows the creation of the next ones for minutes on ext4 (its inode allocator skips recently freed inodes,
  // and the freed blocks are discarded), which made the rows after a cleanup pay for it.
  const restoreDir = opts.restoreDir !== null ? mkdtempSync(join(opts.restoreDir, 'mcp-bench-restore-')) : join(work, 'restore');
  for (const d of [scratch, tarDir, restoreDir]) mkdirSync(d, { recursive: true });
  // Untimed reads before each timed run (measureSides): of the data for backups, of the archives for restores.
  const warmData = (): void => void sh('sh', ['-c', 'tar -C "$1" -cf - services | cat > /dev/null', 'sh', P]);
  const warmFiles = (...paths: string[]) => (): void => void sh('sh', ['-c', 'find "$@" -type f -exec cat {} + > /dev/null', 'sh', ...paths]);
  progress('warm-up: reading all the data once, untimed (the page cache is not dropped)');
  warmData();
  const s0 = countTree(join(P, 'services'));

  const backupDir = join(P, 'backup');
  // The CLI is run as the `mcp` command runs: as an executable, with the Node flags of its first line.
  const ours = (args: string[]): CommandSpec => ({
    cmd: CLI,
    args: ['backup', '--platform', P, '--no-progress', '--quiet', ...args],
    cwd: work,
  });
  const tarCreate = (out: string, snar?: string): CommandSpec => ({
    cmd: 'tar',
    args: ['-C', P, '-c', '-I', `gzip -${LEVEL}`, '-f', out, ...(snar !== undefined ? [`--listed-incremental=${snar}`] : []), 'services'],
  });
  const createFull = ['create', '--type', 'full', '--include-logs', '--compression-level', String(LEVEL), '--json'];
  const createInc = ['create', '--type', 'incremental', '--include-logs', '--json'];
  const ourSize = (before: Map<string, number>): number => {
    let sum = 0;
    for (const [rel, size] of listFiles(backupDir)) {
      if (before.has(rel) || /^(metadata|schedules)\.json/.test(rel) || rel.startsWith('temp/') || rel.endsWith('.lock')) continue;
      sum += size;
    }
    return sum;
  };

  /** An untimed command (setup); returns its result, or the reason it failed. */
  const setup = async (what: string, spec: CommandSpec): Promise<RunResult | string> => {
    progress(`setup: ${what}`);
    const res = await runMeasured({ timeoutMs: opts.timeoutMs, ...spec }, scratch);
    if (!res.ok) {
      const why = `${what} failed: ${failureLine(res)}`;
      progress(why);
      return why;
    }
    return res;
  };

  const rows: Row[] = [];
  const mutations: MutationSummary[] = [];
  const extraTools = [machine.restic ? 'restic' : null, machine.borg ? 'borg' : null].filter((t): t is string => t !== null);
  const runs = opts.runs;
  const sel = (op: Operation): boolean => opts.only.has(op);
  const needBase = OPERATIONS.some((op) => op !== 'full' && sel(op));

  // State shared between operations.
  const baseSnap = join(work, 'ours-base');
  let baseId: string | null = null;
  let baseError: string | null = null;
  const tarFull = join(tarDir, 'full.tgz');
  let tarFullOk = false;
  const chain: { inc1: string | null; inc2: string | null; error: string | null } = { inc1: null, inc2: null, error: null };
  const tarChain = { level0: join(tarDir, 'level0.tgz'), snar0: join(tarDir, 'level0.snar'), level1: join(tarDir, 'level1.tgz'),
    snar1: join(tarDir, 'level1.snar'), level2: join(tarDir, 'level2.tgz'), ok0: false, ok1: false, ok2: false };
  const resetBackup = (): void => {
    rmSync(backupDir, { recursive: true, force: true });
    if (existsSync(baseSnap)) snapshotDir(baseSnap, backupDir);
  };

  // Extra tools (restic, borg): a fresh repository per full run, a saved copy of it for the incrementals.
  interface Extra {
    tool: string;
    /** Repository and cache, copied as a whole to save and restore the state. */
    home: string;
    /** The repository alone (its size is the backup's size). */
    repo: string;
    env: NodeJS.ProcessEnv;
    init: () => void;
    backup: (name: string) => CommandSpec;
    saved: string;
    savedOk: boolean;
  }
  const extras: Extra[] = [];
  if (machine.restic) {
    const home = join(work, 'restic');
    const env = { ...process.env, RESTIC_PASSWORD: 'bench-password', RESTIC_REPOSITORY: join(home, 'repo'), RESTIC_CACHE_DIR: join(home, 'cache') };
    extras.push({
      tool: 'restic', home, repo: join(home, 'repo'), env, saved: join(work, 'restic-saved'), savedOk: false,
      init: () => {
        rmSync(home, { recursive: true, force: true });
        mkdirSync(home, { recursive: true });
        sh('restic', ['init', '--quiet'], { env });
      },
      backup: () => ({ cmd: 'restic', args: ['backup', '--quiet', 'services'], cwd: P, env }),
    });
  }
  if (machine.borg) {
    const home = join(work, 'borg');
    const env = {
      ...process.env, BORG_REPO: join(home, 'repo'), BORG_PASSPHRASE: '', BORG_BASE_DIR: join(home, 'home'),
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    };
    extras.push({
      tool: 'borg', home, repo: join(home, 'repo'), env, saved: join(work, 'borg-saved'), savedOk: false,
      init: () => {
        rmSync(home, { recursive: true, force: true });
        mkdirSync(join(home, 'home'), { recursive: true });
        sh('borg', ['init', '--encryption', 'none'], { env });
      },
      backup: (name) => ({ cmd: 'borg', args: ['create', '--compression', `zlib,${LEVEL}`, `::${name}`, 'services'], cwd: P, env }),
    });
  }
  const extraSide = (x: Extra, op: string, fresh: boolean): Side => ({
    cell: cell(x.tool, `${x.tool} ${x.tool === 'borg' ? 'create' : 'backup'} (${fresh ? 'new repository' : 'repository after the full'})`),
    prepare: () => {
      if (fresh) x.init();
      else {
        if (!x.savedOk) throw new Error(`no ${x.tool} repository from the full backup`);
        rmSync(x.home, { recursive: true, force: true });
        sh('cp', ['-a', x.saved, x.home]);
      }
    },
    spec: (run) => x.backup(`${op}-${run}`),
    after: () => (fresh ? duBytes(x.repo) : duBytes(x.repo) - duBytes(join(x.saved, 'repo'))),
  });
  const saveExtras = (): void => {
    for (const x of extras) {
      if (!existsSync(x.repo)) continue;
      rmSync(x.saved, { recursive: true, force: true });
      sh('cp', ['-a', x.home, x.saved]);
      x.savedOk = true;
    }
  };

  // --- full backup ------------------------------------------------------------------------------------------
  if (sel('full')) {
    const row: Row = { id: 'full', title: TITLES.full, ours: cell('ours', `mcp backup ${createFull.join(' ')}`),
      baseline: cell('tar', `tar -c -I 'gzip -${LEVEL}' -f full.tgz services`), extras: [], ratio: null, notes: [] };
    let before = new Map<string, number>();
    let lastId: string | null = null;
    const sides: Side[] = [
      {
        cell: row.ours,
        prepare: () => {
          rmSync(backupDir, { recursive: true, force: true });
          before = listFiles(backupDir);
        },
        spec: () => ours(createFull),
        after: (res) => {
          lastId = backupIdFrom(res);
          if (lastId === null) throw new Error(`no backup id in the output of create: ${res.stdout.slice(0, 100)}`);
          return ourSize(before);
        },
      },
      {
        cell: row.baseline as Cell,
        prepare: () => rmSync(tarFull, { force: true }),
        spec: () => tarCreate(tarFull),
        after: () => {
          tarFullOk = true;
          return fileSize(tarFull);
        },
      },
    ];
    for (const x of extras) {
      const side = extraSide(x, 'full', true);
      row.extras.push(side.cell);
      sides.push(side);
    }
    await measureSides('full', runs, sides, scratch, opts.timeoutMs, warmData);
    if (row.ours.runs.length > 0 && lastId !== null && row.ours.error === null) {
      baseId = lastId;
      snapshotDir(backupDir, baseSnap);
    } else {
      baseError = `no base full backup (ours full failed: ${row.ours.error ?? 'unknown'})`;
    }
    saveExtras();
    rows.push(row);
  }
  if (needBase && baseId === null && !sel('full')) {
    rmSync(backupDir, { recursive: true, force: true });
    const res = await setup('ours full backup', ours(createFull));
    if (typeof res === 'string') baseError = `no base full backup (${res})`;
    else {
      baseId = backupIdFrom(res);
      if (baseId === null) baseError = 'no base full backup (no id in the output of create)';
      else snapshotDir(backupDir, baseSnap);
    }
  }
  if ((sel('verify') || sel('restore-full')) && !tarFullOk) {
    const res = await setup('tar full backup', tarCreate(tarFull));
    tarFullOk = typeof res !== 'string';
  }
  if (sel('inc-nochange') || sel('inc-1pct') || sel('restore-chain')) {
    const res = await setup('tar level-0 backup with --listed-incremental', tarCreate(tarChain.level0, tarChain.snar0));
    tarChain.ok0 = typeof res !== 'string';
    if (extras.some((x) => !x.savedOk) && (sel('inc-nochange') || sel('inc-1pct'))) {
      for (const x of extras.filter((e) => !e.savedOk)) {
        x.init();
        await setup(`${x.tool} full backup`, x.backup('base'));
      }
      saveExtras();
    }
  }
  const oursNeedsBase = (c: Cell): boolean => {
    if (baseId === null) {
      c.skipped = baseError ?? 'no base full backup';
      return false;
    }
    return true;
  };

  // --- verify -----------------------------------------------------------------------------------------------
  if (sel('verify')) {
    const row: Row = { id: 'verify', title: TITLES.verify, ours: cell('ours', 'mcp backup verify <full>'),
      baseline: cell('tar', 'tar -tzf full.tgz (decompress and read every header; baseline)'), extras: [], ratio: null, notes: [] };
    if (oursNeedsBase(row.ours)) resetBackup();
    if (!tarFullOk) row.baseline = skippedCell('tar', 'no tar archive');
    await measureSides('verify', runs, [
      { cell: row.ours, spec: () => ours(['verify', baseId ?? '']) },
      { cell: row.baseline as Cell, spec: () => ({ cmd: 'tar', args: ['-tzf', tarFull] }) },
    ], scratch, opts.timeoutMs, warmFiles(join(backupDir, 'archives'), tarFull));
    rows.push(row);
  }

  // --- full restore -----------------------------------------------------------------------------------------
  if (sel('restore-full')) {
    const row: Row = { id: 'restore-full', title: TITLES['restore-full'],
      ours: cell('ours', 'mcp backup restore <full> --target <empty dir> --yes --no-safety-backup'),
      baseline: cell('tar', 'tar -xzf full.tgz -C <empty dir>'), extras: [], ratio: null, notes: [] };
    if (oursNeedsBase(row.ours)) resetBackup();
    if (!tarFullOk) row.baseline = skippedCell('tar', 'no tar archive');
    const durableTar = tarFullOk ? cell('tar+sync', 'tar -xzf full.tgz -C <empty dir> && sync -f <empty dir>') : skippedCell('tar+sync', 'no tar archive');
    const target = (tool: string, run: number): string => join(restoreDir, `${tool}-${run}`);
    const fresh = (tool: string) => (run: number): void => {
      rmSync(target(tool, run), { recursive: true, force: true });
      mkdirSync(target(tool, run), { recursive: true });
    };
    await measureSides('restore-full', runs, [
      {
        cell: row.ours, prepare: fresh('ours'),
        spec: (run) => ours(['restore', baseId ?? '', '--target', target('ours', run), '--yes', '--no-safety-backup']),
        after: (_res, run) => {
          if (run === 0) checkRestore('ours', target('ours', run), s0, row.notes);
          return null;
        },
      },
      {
        cell: row.baseline as Cell, prepare: fresh('tar'),
        spec: (run) => ({ cmd: 'tar', args: ['-xzf', tarFull, '-C', target('tar', run)] }),
        after: (_res, run) => {
          if (run === 0) checkRestore('tar', target('tar', run), s0, row.notes);
          return null;
        },
      },
      // The restore makes what it wrote durable (`sync -f`) before it says it is done, and tar does not: tar made
      // durable the same way says what that costs. A note only: the target stays plain `tar -xzf`.
      {
        cell: durableTar, prepare: fresh('tar-sync'),
        spec: (run) => ({ cmd: 'sh', args: ['-c', 'tar -xzf "$1" -C "$2" && sync -f "$2"', 'sh', tarFull, target('tar-sync', run)] }),
      },
    ], scratch, opts.timeoutMs, warmFiles(join(backupDir, 'archives'), tarFull));
    const durable = durableTar.summary;
    if (durable !== null && row.ours.summary !== null) {
      row.notes.push(`\`tar -xzf\` then \`sync -f\` on its folder, durable as ours is: ${secs(durable.medianMs)} s ` +
        `(${secs(durable.minMs)}-${secs(durable.maxMs)}); ours / that: ${(row.ours.summary.medianMs / durable.medianMs).toFixed(2)}x`);
    }
    rows.push(row);
  }

  // --- incrementals -----------------------------------------------------------------------------------------
  const incrementalRow = async (op: 'inc-nochange' | 'inc-1pct'): Promise<{ lastId: string | null; row: Row }> => {
    const row: Row = { id: op, title: TITLES[op], ours: cell('ours', `mcp backup ${createInc.join(' ')} (on the full)`),
      baseline: cell('tar', `tar -c -I 'gzip -${LEVEL}' --listed-incremental=<copy of level-0 snar> services`),
      extras: [], ratio: null, notes: [] };
    const snar = join(tarDir, `${op}.snar`);
    const out = join(tarDir, `${op}.tgz`);
    let before = new Map<string, number>();
    let lastId: string | null = null;
    oursNeedsBase(row.ours);
    if (!tarChain.ok0) row.baseline = skippedCell('tar', 'no level-0 tar archive');
    const sides: Side[] = [
      {
        cell: row.ours,
        prepare: () => {
          resetBackup();
          before = listFiles(backupDir);
        },
        spec: () => ours(createInc),
        after: (res) => {
          lastId = backupIdFrom(res);
          return ourSize(before);
        },
      },
      {
        cell: row.baseline as Cell,
        prepare: () => {
          copyFileSync(tarChain.snar0, snar);
          rmSync(out, { force: true });
        },
        spec: () => tarCreate(out, snar),
        after: () => fileSize(out),
      },
    ];
    for (const x of extras) {
      const side = extraSide(x, op, false);
      row.extras.push(side.cell);
      sides.push(side);
    }
    await measureSides(op, runs, sides, scratch, opts.timeoutMs, warmData);
    if (op === 'inc-1pct' && row.baseline?.runs.length) {
      copyFileSync(out, tarChain.level1);
      copyFileSync(snar, tarChain.snar1);
      tarChain.ok1 = true;
    }
    return { lastId: row.ours.error === null ? lastId : null, row };
  };

  if (sel('inc-nochange')) rows.push((await incrementalRow('inc-nochange')).row);
  if (sel('inc-1pct') || sel('restore-chain')) {
    progress('applying change 1 (1% of the files rewritten, a log appended, a few deleted and added, a git commit)');
    const m = mutatePlatform(P, opts.seed, 1);
    mutations.push(m);
    progress(`change 1: ${m.rewritten} rewritten, ${m.deleted} deleted, ${m.added} added, ${m.appendedBytes} bytes appended to ${m.appendedTo ?? '-'}`);
  }
  if (sel('inc-1pct')) {
    const { lastId, row } = await incrementalRow('inc-1pct');
    chain.inc1 = lastId;
    if (lastId === null && baseId !== null) chain.error = `ours incremental failed: ${row.ours.error ?? 'no id'}`;
    rows.push(row);
  } else if (sel('restore-chain')) {
    if (baseId !== null) {
      resetBackup();
      const res = await setup('ours incremental 1', ours(createInc));
      if (typeof res === 'string') chain.error = res;
      else chain.inc1 = backupIdFrom(res);
    }
    if (tarChain.ok0) {
      copyFileSync(tarChain.snar0, tarChain.snar1);
      tarChain.ok1 = typeof (await setup('tar level 1', tarCreate(tarChain.level1, tarChain.snar1))) !== 'string';
    }
  }

  // --- restore of the tip of a 3-step chain (full, incremental, incremental) ---------------------------------
  if (sel('restore-chain')) {
    const row: Row = { id: 'restore-chain', title: TITLES['restore-chain'],
      ours: cell('ours', 'mcp backup restore <inc2> --target <empty dir> --yes --no-safety-backup'),
      baseline: cell('tar', 'tar -xzf -G level0.tgz && level1.tgz && level2.tgz, into <empty dir>'), extras: [], ratio: null, notes: [] };
    progress('applying change 2');
    const m = mutatePlatform(P, opts.seed, 2);
    mutations.push(m);
    const s2 = countTree(join(P, 'services'));
    if (baseId === null) row.ours.skipped = baseError ?? 'no base full backup';
    else if (chain.inc1 === null) row.ours.skipped = chain.error ?? 'no first incremental';
    else {
      const res = await setup('ours incremental 2', ours(createInc));
      if (typeof res === 'string') row.ours.skipped = res;
      else {
        chain.inc2 = backupIdFrom(res);
        if (chain.inc2 === null) row.ours.skipped = 'no id in the output of the second incremental';
      }
    }
    if (tarChain.ok1) {
      const snar2 = join(tarDir, 'level2.snar');
      copyFileSync(tarChain.snar1, snar2);
      tarChain.ok2 = typeof (await setup('tar level 2', tarCreate(tarChain.level2, snar2))) !== 'string';
    }
    if (!tarChain.ok2) row.baseline = skippedCell('tar', 'no tar incremental chain');
    const target = (tool: string, run: number): string => join(restoreDir, `chain-${tool}-${run}`);
    const fresh = (tool: string) => (run: number): void => {
      rmSync(target(tool, run), { recursive: true, force: true });
      mkdirSync(target(tool, run), { recursive: true });
    };
    await measureSides('restore-chain', runs, [
      {
        cell: row.ours, prepare: fresh('ours'),
        spec: (run) => ours(['restore', chain.inc2 ?? '', '--target', target('ours', run), '--yes', '--no-safety-backup']),
        after: (_res, run) => {
          if (run === 0) checkRestore('ours', target('ours', run), s2, row.notes);
          return null;
        },
      },
      {
        cell: row.baseline as Cell, prepare: fresh('tar'),
        spec: (run) => ({
          cmd: 'sh',
          args: ['-c', 'tar -xzf "$1" -G -C "$4" && tar -xzf "$2" -G -C "$4" && tar -xzf "$3" -G -C "$4"', 'sh',
            tarChain.level0, tarChain.level1, tarChain.level2, target('tar', run)],
        }),
        after: (_res, run) => {
          if (run === 0) checkRestore('tar', target('tar', run), s2, row.notes);
          return null;
        },
      },
    ], scratch, opts.timeoutMs,
      warmFiles(join(backupDir, 'archives'), tarChain.level0, tarChain.level1, tarChain.level2));
    rows.push(row);
  }

  // --- list over 10,000 records -----------------------------------------------------------------------------
  if (sel('list')) {
    const row: Row = { id: 'list', title: TITLES.list, ours: cell('ours', 'mcp backup list --json'), baseline: null, extras: [], ratio: null, notes: [] };
    const LP = join(work, 'list-platform');
    const source = existsSync(join(backupDir, 'metadata.json')) ? join(backupDir, 'metadata.json') : join(baseSnap, 'metadata.json');
    if (!existsSync(source)) row.ours.skipped = `no metadata.json from the real runs (${baseError ?? 'ours create failed'})`;
    else {
      try {
        const original = readFileSync(source, 'utf8');
        const built = cloneIndex(JSON.parse(original) as Json, LIST_RECORDS);
        if ('skip' in built) row.ours.skipped = built.skip;
        else {
          listPlatform(LP, JSON.stringify(built.index, null, indentOf(original)) + '\n');
          // A real index is always the tool's own writing: the clone goes once through its writer, which checks it.
          await updateIndex(backupLayout(join(LP, 'backup')), (records) => ({ records, result: undefined }));
          row.ours.sizeBytes = fileSize(join(LP, 'backup', 'metadata.json'));
        }
      } catch (e) {
        row.ours.skipped = `could not build the index: ${firstLine(e)}`;
      }
    }
    const listArgs = ['backup', '--platform', LP, '--no-progress', '--quiet', 'list', '--json'];
    // The warm-up is one untimed run of the same command: it reads the index, the CLI and node itself.
    const warmList = (): void => void execFileSync(CLI, listArgs, { cwd: work, stdio: 'ignore' });
    await measureSides('list', runs, [{
      cell: row.ours,
      spec: () => ({ cmd: CLI, args: listArgs, cwd: work }),
      after: (res, run) => {
        if (run === 0) {
          const n = countListed(res.stdout);
          if (n !== LIST_RECORDS) row.notes.push(`list --json returned ${n === null ? 'no JSON array' : `${n} entries`}, expected ${LIST_RECORDS}`);
        }
        return fileSize(join(LP, 'backup', 'metadata.json'));
      },
    }], scratch, opts.timeoutMs, warmList);
    row.notes.push('size column: the metadata.json listed');
    // The same records as another writer would leave them, without the checksum line: parsed and checked, as an
    // index edited by hand is (src/metadata/listing.ts). In a note, for the cost of that path.
    if (row.ours.summary !== null) {
      const parsed = cell('ours', 'mcp backup list --json, over an index without the checksum line');
      const PP = join(work, 'list-platform-parsed');
      listPlatform(PP, `${JSON.stringify(JSON.parse(readFileSync(join(LP, 'backup', 'metadata.json'), 'utf8')))}\n`);
      const parsedArgs = ['backup', '--platform', PP, '--no-progress', '--quiet', 'list', '--json'];
      await measureSides('list, parsed', runs, [{ cell: parsed, spec: () => ({ cmd: CLI, args: parsedArgs, cwd: work }) }], scratch, opts.timeoutMs,
        () => void execFileSync(CLI, parsedArgs, { cwd: work, stdio: 'ignore' }));
      const p = parsed.summary;
      if (p !== null) row.notes.push(`over an index without the checksum line (another writer's, or edited by hand), parsed and checked: ${secs(p.medianMs)} s (${secs(p.minMs)}-${secs(p.maxMs)}), peak ${mib(p.peakBytes)}`);
      else row.notes.push(`over an index without the checksum line: ${parsed.error ?? 'not measured'}`);
    }
    rows.push(row);
  }

  // --- report -----------------------------------------------------------------------------------------------
  for (const row of rows) {
    const a = row.ours.summary;
    const b = row.baseline?.summary;
    row.ratio = a && b && b.medianMs > 0 ? a.medianMs / b.medianMs : null;
  }
  const order = new Map(OPERATIONS.map((op, i) => [op, i]));
  rows.sort((x, y) => (order.get(x.id) ?? 0) - (order.get(y.id) ?? 0));
  const { text, footnotes } = renderTable(rows, extraTools);
  const d = dataset.stats;
  const lines = [
    '',
    `mcp backup benchmark, ${new Date(started).toISOString()}, code ${code.commit ?? 'unknown'}${code.dirty ? ' (with uncommitted changes)' : ''}`,
    `cores: ${cores} (${machine.cpu}), memory ${Math.round(machine.memoryMiB / 1024)} GiB, node ${machine.node}, ${machine.tar ?? 'no tar'}, ${machine.gzip ?? 'no gzip'}`,
    `dataset: ${opts.size} (seed ${opts.seed}): ${d.files.toLocaleString('en-US')} files, ${d.dirs.toLocaleString('en-US')} folders, ` +
      `${d.symlinks} symlinks, ${mib(d.bytes)}${dataset.reused ? ' (cached)' : ''}`,
    `runs: ${runs} per operation and tool, interleaved; times are wall-clock medians (min-max) in seconds; ratio = ours / baseline`,
    `gzip level ${LEVEL} for both; peak = max over runs of the summed RSS of the whole process tree, sampled every 50 ms`,
    `page cache: not dropped; before every timed run, an untimed read of what it reads (the data, or the archives)`,
    ...(extraTools.length === 0 ? ['restic, borg: not installed (no extra columns)'] : []),
    '',
    text,
    ...(footnotes.length > 0 ? ['', ...footnotes.map((f, i) => `[${i + 1}] ${f}`)] : []),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');

  const result = {
    schema: 1,
    date: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    code,
    machine,
    dataset: { size: opts.size, seed: opts.seed, generatorVersion: GENERATOR_VERSION, reused: dataset.reused, ...d },
    settings: {
      runs, compressionLevel: LEVEL, only: [...opts.only],
      peakMemory: 'max over runs of the sum of RSS (/proc/<pid>/statm) of every process in the command\'s tree, sampled every 50 ms, and at least GNU time\'s maximum resident set size',
      pageCache: 'not dropped; before every timed run, an untimed read of what it reads (the data for backups, the archives for restores and verify)',
    },
    mutations,
    rows,
    footnotes,
  };
  mkdirSync(dirname(opts.json), { recursive: true });
  const tmp = `${opts.json}.tmp`;
  writeFileSync(tmp, JSON.stringify(result, null, 2) + '\n');
  renameSync(tmp, opts.json);
  progress(`results written to ${relative(process.cwd(), opts.json) || opts.json}`);

  if (opts.restoreDir !== null) rmSync(restoreDir, { recursive: true, force: true });
  if (!opts.keep) rmSync(work, { recursive: true, force: true });
  else progress(`work folder kept: ${work}`);
}

main().catch((e: unknown) => {
  killActive();
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
