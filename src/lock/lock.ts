/**
 * Inter-process locks, built on proper-lockfile (an mkdir lock whose mtime is refreshed while held, so a lock left by
 * a killed process goes stale and is taken over).
 *
 * - `withLock` serialises short critical sections (read-modify-write of metadata.json or schedules.json). Waiting
 *   is bounded: past the timeout the caller gets a LOCKED error that says to retry.
 * - `acquireLease` marks a long-running piece of work (a staging folder, a schedule's run) as alive, so other
 *   processes can tell live work from a killed command's leftovers (`isLeaseAlive`). A lease also records its pid,
 *   so a lease whose process is gone on this host is dead at once, without waiting for the stale time.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { BackupError, errnoCode } from '../errors.js';
import { DIR_MODE } from '../fsutil/safe-write.js';

/** A held lock is refreshed every STALE_MS / 2; one not refreshed for STALE_MS is considered abandoned. */
const STALE_MS = 5_000;
const DEFAULT_TIMEOUT_MS = 30_000;

export interface LockOptions {
  /** How long to wait for a busy lock before failing with LOCKED. Default 30 s. */
  timeoutMs?: number;
  /** Named in the LOCKED error, e.g. "the backup index". */
  what: string;
}

export interface HeldLock {
  release(): Promise<void>;
  /** False once the lock was found stolen or its refresh failed: the holder must not commit anything more. */
  readonly intact: boolean;
}

async function lockOnce(lockPath: string): Promise<HeldLock | undefined> {
  const state = { intact: true };
  try {
    const release = await lockfile.lock(path.dirname(lockPath), {
      lockfilePath: lockPath,
      realpath: false,
      stale: STALE_MS,
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

interface LeaseOwner {
  pid: number;
  host: string;
  startedAt: string;
}

const OWNER_FILE = 'owner.json';

/**
 * Marks `dir` (an existing folder) as the live workspace of this process until released. Returns undefined when
 * another live process holds it.
 */
export async function acquireLease(dir: string): Promise<HeldLock | undefined> {
  const held = await lockOnce(leaseLockPath(dir));
  if (!held) return undefined;
  const owner: LeaseOwner = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  const ownerFile = path.join(leaseLockPath(dir), OWNER_FILE);
  await fs.writeFile(ownerFile, JSON.stringify(owner), { mode: 0o600 });
  return {
    get intact() {
      return held.intact;
    },
    release: async () => {
      // proper-lockfile removes its lock folder with rmdir, which needs it empty.
      await fs.rm(ownerFile, { force: true });
      await held.release();
    },
  };
}

function leaseLockPath(dir: string): string {
  return `${dir}.lease`;
}

/** The folder that holds a lease's lock, so cleanup can remove both together. */
export function leasePathOf(dir: string): string {
  return leaseLockPath(dir);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/** True while the process that took the lease on `dir` is still at work. */
export async function isLeaseAlive(dir: string): Promise<boolean> {
  const lockPath = leaseLockPath(dir);
  try {
    const owner = JSON.parse(await fs.readFile(path.join(lockPath, OWNER_FILE), 'utf8')) as LeaseOwner;
    if (owner.host === os.hostname() && !processAlive(owner.pid)) return false;
  } catch {
    // No owner record yet (just being taken) or unreadable: fall back to the lock's freshness.
  }
  return lockfile.check(path.dirname(lockPath), { lockfilePath: lockPath, realpath: false, stale: STALE_MS });
}
