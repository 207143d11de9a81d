/**
 * Inter-process locks, built on proper-lockfile (an mkdir lock whose mtime is refreshed while held, so a lock left by
 * a killed process goes stale and is taken over).
 *
 * - `withLock` serialises short critical sections (read-modify-write of metadata.json or schedules.json). Waiting
 *   is bounded: past the timeout the caller gets a LOCKED error that says to retry.
 * - `acquireLease` marks a long-running piece of work (a staging folder, a schedule's run) as alive, so other
 *   processes can tell live work from a killed command's leftovers (`isLeaseAlive`). A lease also records its owner
 *   (pid and host) beside the lock, so a lease whose process is gone on this host is dead at once, without waiting
 *   for the stale time.
 *
 * Each lock is keyed by its own path (proper-lockfile keys the locks a process holds by the path it is given), so
 * one process may hold several locks in one folder. The stale time is generous (20 s, refreshed every 2 s) because
 * a refresh needs the event loop: a long synchronous step (the scan of a huge tree) must not let another process
 * take a live lock over.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { BackupError, errnoCode } from '../errors.js';
import { DIR_MODE } from '../fsutil/safe-write.js';

/** How long a lock goes unrefreshed before it counts as left by a killed process. */
export const STALE_MS = 20_000;
const UPDATE_MS = 2_000;
const DEFAULT_TIMEOUT_MS = 30_000;

export interface LockOptions {
  /** How long to wait for a busy lock before failing with LOCKED. Default 30 s; 0 tries once. */
  timeoutMs?: number;
  /** Named in the LOCKED error, e.g. "the backup index". */
  what: string;
}

export interface HeldLock {
  release(): Promise<void>;
  /** False once the lock was found stolen or its refresh failed: the holder must not commit anything more. */
  readonly intact: boolean;
}

/** proper-lockfile, loaded on the first lock: commands that take none (`list`, `show`) then start without it. */
async function lockfile(): Promise<typeof import('proper-lockfile')> {
  return (await import('proper-lockfile')).default;
}

function lockOptions(lockPath: string) {
  return { lockfilePath: lockPath, realpath: false, stale: STALE_MS } as const;
}

async function lockOnce(lockPath: string): Promise<HeldLock | undefined> {
  const state = { intact: true };
  try {
    const release = await (await lockfile()).lock(lockPath, {
      ...lockOptions(lockPath),
      update: UPDATE_MS,
      retries: 0,
      onCompromised: () => {
        state.intact = false;
      },
    });
    await fs.chmod(lockPath, DIR_MODE).catch(() => undefined);
    return {
      get intact() {
        return state.intact;
      },
      release: async () => {
        await release().catch(() => undefined);
      },
    };
  } catch (error) {
    if (errnoCode(error) === 'ELOCKED') return undefined;
    throw error;
  }
}

/** Takes the lock at `lockPath` (a path whose folder exists), waiting up to the timeout. */
export async function acquireLock(lockPath: string, options: LockOptions): Promise<HeldLock> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    const held = await lockOnce(lockPath);
    if (held) return held;
    if (Date.now() >= deadline) {
      throw new BackupError(
        'LOCKED',
        `${options.what} is locked by another mcp backup command (${lockPath}); retry when it has finished`,
        { lockPath },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
  }
}

export async function withLock<T>(lockPath: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const held = await acquireLock(lockPath, options);
  try {
    return await fn();
  } finally {
    await held.release();
  }
}

export interface LeaseOwner {
  pid: number;
  host: string;
  startedAt: string;
}

/** The lock folder of the lease on `dir`. */
export function leasePathOf(dir: string): string {
  return `${dir}.lease`;
}

/** The owner record of the lease on `dir`, beside the lock (inside it, the lock folder could not be removed). */
export function leaseOwnerPathOf(dir: string): string {
  return `${dir}.owner`;
}

/**
 * Marks `dir` (which need not exist yet) as the live workspace of this process until released. Returns undefined
 * when another live process holds it.
 */
export async function acquireLease(dir: string, options: { nameIsOurs?: boolean } = {}): Promise<HeldLock | undefined> {
  const owner: LeaseOwner = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  const ownerFile = leaseOwnerPathOf(dir);
  const writeOwner = () => fs.writeFile(ownerFile, JSON.stringify(owner), { mode: 0o600 });
  // A lease whose name no other process uses (a workspace named after this one) gets its owner record first, so a
  // kill between the two never leaves a lease that only its 20 s staleness can end. A shared name (the restore
  // lock) must not have its holder's record overwritten by a process still waiting for it.
  if (options.nameIsOurs) await writeOwner();
  const held = await lockOnce(leasePathOf(dir));
  if (!held) return undefined;
  if (!options.nameIsOurs) await writeOwner();
  return {
    get intact() {
      return held.intact;
    },
    release: async () => {
      await held.release();
      await fs.rm(ownerFile, { force: true });
    },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/**
 * True while the process that took the lease on `dir` is still at work, or is taking it.
 *
 * A workspace's owner record is written before its lock is taken (`acquireLease`), so for a moment a live process has
 * a record and no lock yet, and its record may even be empty, being written. Judged by the lock alone in that moment,
 * the lease looked dead, and a sweep of temp/ then removed the new lease and record, and a later sweep the folder,
 * from under the command that had just made it (a create of 20 run at once failed with ENOENT in its own folder). A
 * young record of a live process, or a young record not written yet, therefore counts as alive: a lock is taken
 * within milliseconds of its record, and the lock's freshness decides once the record is older than the stale time.
 */
export async function isLeaseAlive(dir: string): Promise<boolean> {
  const lockPath = leasePathOf(dir);
  const locked = async () => (await lockfile()).check(lockPath, lockOptions(lockPath));
  const ownerPath = leaseOwnerPathOf(dir);
  let text: string;
  let young: boolean;
  try {
    const [content, stat] = await Promise.all([fs.readFile(ownerPath, 'utf8'), fs.stat(ownerPath)]);
    [text, young] = [content, Date.now() - stat.mtimeMs < STALE_MS];
  } catch {
    return locked(); // No owner record: the lock's freshness decides.
  }
  const owner = ownerIn(text); // Undefined while being written (or damaged).
  if (owner && owner.host !== os.hostname()) return locked();
  if (owner && !processAlive(owner.pid)) return false;
  return young || locked();
}

/** The recorded owner of the lease on `dir`: undefined while there is none, or while it is being written. */
export async function leaseOwner(dir: string): Promise<LeaseOwner | undefined> {
  return fs.readFile(leaseOwnerPathOf(dir), 'utf8').then(ownerIn, () => undefined);
}

function ownerIn(text: string): LeaseOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LeaseOwner> | null;
    return typeof owner?.pid === 'number' && typeof owner.host === 'string' ? (owner as LeaseOwner) : undefined;
  } catch {
    return undefined;
  }
}
