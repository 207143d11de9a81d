import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLease, isLeaseAlive, leaseOwnerPathOf, leasePathOf } from './lock.js';

function workspaceIn(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-lease-')), 'create-1-abcd');
}

function writeOwner(dir: string, pid: number, ageMs = 0): void {
  const file = leaseOwnerPathOf(dir);
  fs.writeFileSync(file, JSON.stringify({ pid, host: os.hostname(), startedAt: new Date().toISOString() }));
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    fs.utimesSync(file, then, then);
  }
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('isLeaseAlive', () => {
  it('holds a lease alive while it is held, and not once it is released', async () => {
    const dir = workspaceIn();
    const lease = await acquireLease(dir, { nameIsOurs: true });
    expect(await isLeaseAlive(dir)).toBe(true);
    await lease!.release();
    expect(await isLeaseAlive(dir)).toBe(false);
  });

  it('holds a lease alive while it is being taken: its owner record written and no lock yet, or the record still empty', async () => {
    const dir = workspaceIn();
    writeOwner(dir, process.pid);
    expect(fs.existsSync(leasePathOf(dir))).toBe(false);
    expect(await isLeaseAlive(dir)).toBe(true);
    fs.writeFileSync(leaseOwnerPathOf(dir), '');
    expect(await isLeaseAlive(dir)).toBe(true);
  });

  it('says dead at once when the owner is gone, and when a live owner has held no lock for the stale time', async () => {
    const dir = workspaceIn();
    writeOwner(dir, deadPid());
    expect(await isLeaseAlive(dir)).toBe(false);
    writeOwner(dir, process.pid, 60_000);
    expect(await isLeaseAlive(dir)).toBe(false);
    fs.writeFileSync(leaseOwnerPathOf(dir), '');
    const then = new Date(Date.now() - 60_000);
    fs.utimesSync(leaseOwnerPathOf(dir), then, then);
    expect(await isLeaseAlive(dir)).toBe(false);
  });
});
