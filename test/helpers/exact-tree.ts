/**
 * Exact snapshots of restored paths: type, mode, owner, size, SHA-256, link target, mtime, and which files are hard
 * links of each other, for every entry under each path. `expectSameTrees` compares two snapshots and lists every
 * difference; mtimes must agree within 10 µs (utimes takes a double of seconds, which keeps about 0.24 µs today).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

export interface ExactRecord {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  mtimeMs: number;
  /** For a file with several names: the first of them (in sorted order) within the snapshot. */
  hardlinkGroup?: string;
}

export type ExactSnapshot = Record<string, ExactRecord>;

/** Snapshots each of `paths` (files or folders, absolute), keyed `<label>/<relative path>`; missing ones are absent. */
export function exactSnapshot(paths: Record<string, string>, options: { skip?: (key: string) => boolean } = {}): ExactSnapshot {
  const out: ExactSnapshot = {};
  const inodes = new Map<string, string>();
  const visit = (absolute: string, key: string) => {
    if (options.skip?.(key)) return;
    const stat = fs.lstatSync(absolute);
    const base = { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtimeMs: stat.mtimeMs };
    if (stat.isSymbolicLink()) {
      out[key] = { type: 'symlink', ...base, mode: 0, link: fs.readlinkSync(absolute) };
    } else if (stat.isDirectory()) {
      out[key] = { type: 'dir', ...base };
      for (const name of fs.readdirSync(absolute).sort()) visit(path.join(absolute, name), `${key}/${name}`);
    } else if (stat.isFile()) {
      const content = fs.readFileSync(absolute);
      const record: ExactRecord = { type: 'file', ...base, size: content.length, sha256: createHash('sha256').update(content).digest('hex') };
      if (stat.nlink > 1) {
        const id = `${stat.dev}:${stat.ino}`;
        if (!inodes.has(id)) inodes.set(id, key);
        record.hardlinkGroup = inodes.get(id)!;
      }
      out[key] = record;
    } else {
      out[key] = { type: 'other', ...base };
    }
  };
  for (const [label, absolute] of Object.entries(paths)) {
    if (fs.existsSync(absolute) || isSymlink(absolute)) visit(absolute, label);
  }
  return out;
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Every difference between two snapshots, one line each (empty when they are the same). */
export function treeDifferences(actual: ExactSnapshot, expected: ExactSnapshot, options: { mtimes?: boolean } = {}): string[] {
  const problems: string[] = [];
  for (const key of new Set([...Object.keys(actual), ...Object.keys(expected)])) {
    const a = actual[key];
    const e = expected[key];
    if (!a) problems.push(`${key}: missing`);
    else if (!e) problems.push(`${key}: unexpected ${a.type}`);
    else {
      for (const field of ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'link', 'hardlinkGroup'] as const) {
        if (a[field] !== e[field]) problems.push(`${key}: ${field} ${String(a[field])} != ${String(e[field])}`);
      }
      if (options.mtimes !== false && Math.abs(a.mtimeMs - e.mtimeMs) > 0.01) problems.push(`${key}: mtime ${a.mtimeMs} != ${e.mtimeMs}`);
    }
  }
  return problems;
}

export function expectSameTrees(actual: ExactSnapshot, expected: ExactSnapshot, options: { mtimes?: boolean } = {}): void {
  expect(treeDifferences(actual, expected, options)).toEqual([]);
}

/** Paths (relative, sorted) of everything under `dir`, for checking that a folder holds no leftovers. */
export function listAll(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}
