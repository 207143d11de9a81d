/**
 * Backup ids: readable and sortable (`20261124T020000Z-full-7f3a`: UTC time, type, random suffix), and the lookup
 * every command uses, which accepts any unique prefix.
 */
import { BackupError } from '../errors.js';
import { randomHex } from '../random.js';
import type { BackupRecord, BackupType } from './record.js';

export function compactUtc(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

export function newBackupId(type: BackupType, date: Date, taken: ReadonlySet<string>): string {
  for (;;) {
    const id = `${compactUtc(date)}-${type}-${randomHex(2)}`;
    if (!taken.has(id)) return id;
  }
}

/** Finds the record whose id is `query` or starts with it. */
export function resolveBackupId(records: readonly BackupRecord[], query: string): BackupRecord {
  const trimmed = query.trim();
  if (trimmed === '') throw new BackupError('USAGE', 'the backup id is empty: pass an id from `mcp backup list`');
  const exact = records.find((r) => r.id === trimmed);
  if (exact) return exact;
  const matches = records.filter((r) => r.id.startsWith(trimmed));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new BackupError('BACKUP_NOT_FOUND', `no backup with id ${trimmed}: see \`mcp backup list\` for the ids`, { id: trimmed });
  }
  const shown = matches.slice(0, 10).map((r) => r.id);
  const more = matches.length > shown.length ? ` and ${matches.length - shown.length} more` : '';
  throw new BackupError(
    'AMBIGUOUS_ID',
    `backup id ${trimmed} is ambiguous: it matches ${shown.join(', ')}${more}; give more characters`,
    { id: trimmed, candidates: matches.map((r) => r.id) },
  );
}
