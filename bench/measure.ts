/**
 * Runs one command and measures it: wall time, peak memory of the whole process tree, CPU time.
 *
 * - Wall time: from spawn to exit, measured here (process.hrtime).
 * - Peak memory (the figure the table shows): every 50 ms the harness walks the command's process tree
 *   (/proc/<pid>/task/<tid>/children, recursively) and sums the resident set size (/proc/<pid>/statm) of every
 *   process in it; the peak is the largest such sum. So `tar czf` counts tar + gzip, and a tool that forks workers
 *   counts them all. Sums of RSS count shared pages (libraries) once per process, and a peak shorter than 50 ms may
 *   be missed: for that reason the figure is never lower than GNU time's own maximum (below).
 * - GNU time (`/usr/bin/time -v`, when present) wraps the command; its "Maximum resident set size" is the largest
 *   RSS of any single process among those it waited for (ru_maxrss of the children: the biggest one, not the sum),
 *   and its user and system seconds are the CPU of the whole tree. Both are kept in the JSON. The /usr/bin/time
 *   process itself (about 2 MiB) is not counted in the tree sum.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface CommandSpec {
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command (its whole process group) after this long. */
  timeoutMs?: number;
}

export interface RunResult {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  wallMs: number;
  /** Peak of the sum of RSS over the process tree (bytes), at least GNU time's maximum. */
  peakTreeBytes: number;
  /** GNU time's "Maximum resident set size": the largest single process (bytes). */
  maxRssSingleBytes: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
  samples: number;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';
const SAMPLE_MS = 50;
let pageSize = 4096;
try {
  // statm counts pages: read the page size from the kernel's auxiliary vector (AT_PAGESZ = 6).
  const auxv = readFileSync('/proc/self/auxv');
  for (let i = 0; i + 16 <= auxv.length; i += 16) {
    if (auxv.readBigUInt64LE(i) === 6n) pageSize = Number(auxv.readBigUInt64LE(i + 8));
  }
} catch {
  // keep 4096
}

export function hasGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text !== '') for (const c of text.split(/\s+/)) out.push(Number(c));
    } catch {
      // the thread or process is gone
    }
  }
  return out;
}

function rssOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(fields[1] ?? 0) * pageSize;
  } catch {
    return 0;
  }
}

/** Sum of RSS of `root` and all its descendants; `skipRoot` leaves out the root itself (the GNU time wrapper). */
export function treeRss(root: number, skipRoot: boolean): number {
  let sum = 0;
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    if (!(skipRoot && pid === root)) sum += rssOf(pid);
    stack.push(...childrenOf(pid));
  }
  return sum;
}

function parseGnuTime(text: string): { maxRss: number | null; user: number | null; sys: number | null } {
  const num = (re: RegExp): number | null => {
    const m = re.exec(text);
    return m?.[1] !== undefined ? Number(m[1]) : null;
  };
  const kb = num(/Maximum resident set size \(kbytes\): (\d+)/);
  return { maxRss: kb === null ? null : kb * 1024, user: num(/User time \(seconds\): ([\d.]+)/), sys: num(/System time \(seconds\): ([\d.]+)/) };
}

function readCapped(path: string, max = 64 << 20): string {
  try {
    const buf = readFileSync(path);
    return buf.subarray(0, max).toString('utf8');
  } catch {
    return '';
  }
}

let counter = 0;

/** Process groups of commands running now (killed by `killActive`, e.g. on Ctrl-C). */
const active = new Set<number>();

export function killActive(): void {
  for (const pgid of active) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Runs `spec` (stdin closed, stdout and stderr to files in `scratchDir`, read back afterwards so the harness is not
 * in the data path) and measures it. Never throws for a failing command: see `ok`.
 */
export async function runMeasured(spec: CommandSpec, scratchDir: string): Promise<RunResult> {
  const n = counter++;
  const outPath = join(scratchDir, `run-${n}.out`);
  const errPath = join(scratchDir, `run-${n}.err`);
  const timePath = join(scratchDir, `run-${n}.time`);
  const useTime = hasGnuTime();
  const outFd = openSync(outPath, 'w');
  const errFd = openSync(errPath, 'w');
  const [cmd, args] = useTime ? [GNU_TIME, ['-v', '-o', timePath, spec.cmd, ...spec.args]] : [spec.cmd, spec.args];
  const started = process.hrtime.bigint();
  let peak = 0;
  let samples = 0;
  let timedOut = false;
  const result = await new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    const child = spawn(cmd, args, {
      cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', outFd, errFd], detached: true,
    });
    const pid = child.pid;
    if (pid !== undefined) active.add(pid);
    const sample = (): void => {
      if (pid === undefined) return;
      const rss = treeRss(pid, useTime);
      samples++;
      if (rss > peak) peak = rss;
    };
    const timer = setInterval(sample, SAMPLE_MS);
    const killer = spec.timeoutMs !== undefined && pid !== undefined
      ? setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-pid, 'SIGKILL'); // the command's own process group (spawned detached above)
        } catch {
          // already gone
        }
      }, spec.timeoutMs)
      : undefined;
    child.on('error', (error) => {
      if (pid !== undefined) active.delete(pid);
      clearInterval(timer);
      if (killer) clearTimeout(killer);
      resolve({ code: null, signal: null, error });
    });
    child.on('exit', (code, signal) => {
      if (pid !== undefined) active.delete(pid);
      clearInterval(timer);
      if (killer) clearTimeout(killer);
      resolve({ code, signal });
    });
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  closeSync(outFd);
  closeSync(errFd);
  const timeText = useTime ? readCapped(timePath) : '';
  const gt = parseGnuTime(timeText);
  let stderr = readCapped(errPath);
  if (result.error) stderr = `${result.error.message}\n${stderr}`;
  // GNU time reports a non-zero exit as "Command exited with non-zero status N" in its own file, not on stderr.
  const termSignal = /Command terminated by signal (\d+)/.exec(timeText)?.[1];
  const stdout = readCapped(outPath);
  for (const p of [outPath, errPath, timePath]) rmSync(p, { force: true });
  return {
    ok: !result.error && result.code === 0 && !timedOut,
    exitCode: result.code,
    signal: result.signal ?? (termSignal !== undefined ? `signal ${termSignal}` : null),
    timedOut,
    wallMs,
    peakTreeBytes: Math.max(peak, gt.maxRss ?? 0),
    maxRssSingleBytes: gt.maxRss,
    userSeconds: gt.user,
    systemSeconds: gt.sys,
    samples,
    stdout,
    stderr,
  };
}

/** The first meaningful line of a failed command's output, for a table cell. */
export function failureLine(r: RunResult): string {
  if (r.timedOut) return `timed out after ${(r.wallMs / 1000).toFixed(0)} s`;
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at '));
  const first = lines[0] ?? '(no output)';
  const status = r.exitCode !== null ? `exit ${r.exitCode}` : (r.signal ?? 'failed');
  return `${status}: ${first.length > 160 ? `${first.slice(0, 157)}...` : first}`;
}

export interface Summary {
  medianMs: number;
  minMs: number;
  maxMs: number;
  peakBytes: number;
}

export function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarize(runs: ReadonlyArray<Pick<RunResult, 'wallMs' | 'peakTreeBytes'>>): Summary | null {
  if (runs.length === 0) return null;
  const walls = runs.map((r) => r.wallMs);
  return {
    medianMs: median(walls),
    minMs: Math.min(...walls),
    maxMs: Math.max(...walls),
    peakBytes: Math.max(...runs.map((r) => r.peakTreeBytes)),
  };
}
