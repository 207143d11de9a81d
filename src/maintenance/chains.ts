/**
 * Chain facts that delete and cleanup report on, as pure functions over index records: what builds on a backup,
 * and which scopes a removal leaves with no way back.
 */
import type { BackupRecord } from '../metadata/record.js';
import { chainProblem, scopeOf } from '../retention/policy.js';

/** Every backup that builds on `id`, directly or through others, oldest first. */
export function dependentsOf(records: readonly BackupRecord[], id: string): BackupRecord[] {
  const children = new Map<string, BackupRecord[]>();
  for (const r of records) {
    if (r.parent === undefined || r.parent === r.id) continue;
    children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  }
  const found = new Map<string, BackupRecord>();
  const pending = [id];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const child of children.get(next) ?? []) {
      if (found.has(child.id) || child.id === id) continue;
      found.set(child.id, child);
      pending.push(child.id);
    }
  }
  return [...found.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** True when every ancestor of `record` is in `records` and the chain starts on a full or service backup. */
export function isRestorable(records: readonly BackupRecord[], record: BackupRecord): boolean {
  return chainProblem(record, new Map(records.map((r) => [r.id, r]))) === undefined;
}

/**
 * The scopes (services and parts, as retention groups them) that had a restorable backup among `before` and have
 * none among `after`: what a removal leaves with no way back. Labels, sorted.
 */
export function scopesLeftWithoutBackup(before: readonly BackupRecord[], after: readonly BackupRecord[]): string[] {
  const byIdBefore = new Map(before.map((r) => [r.id, r]));
  const byIdAfter = new Map(after.map((r) => [r.id, r]));
  const had = new Map<string, string>();
  for (const r of before) {
    if (chainProblem(r, byIdBefore) === undefined) {
      const { key, label } = scopeOf(r);
      had.set(key, label);
    }
  }
  for (const r of after) {
    if (chainProblem(r, byIdAfter) === undefined) had.delete(scopeOf(r).key);
  }
  return [...had.values()].sort();
}
