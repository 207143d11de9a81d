/**
 * metadata.json: the index of backups. `list` reads only this file, never the archives.
 *
 * Reads never write. Writes are read-modify-write under the index lock, and atomic (safe-write), so a crash leaves
 * the previous or the new index. A file that does not parse is never replaced silently: the error points to
 * `mcp backup index rebuild`. An older schema is migrated on the first write, after a copy of the old file is kept;
 * a newer one is refused.
 *
 * Schema versions (`schemaVersion`):
 *   0  the index before it carried a version: a bare JSON array of records, whose records have no `origin`.
 *      Migrated by wrapping the array, and giving each record `origin: { kind: 'manual' }`: nothing recorded who made
 *      it, and "manual" is the safe reading (a schedule's retention only ever removes backups that name it).
 *   1  `{ "schemaVersion": 1, "bodySha256": "...", "backups": [...], "pendingRemoval": [...] }`, one record per line,
 *      newest first. `pendingRemoval` (present only while non-empty) names the files in archives/ of records just
 *      removed: it is written in the same atomic write that removes the records, and cleared once the files are
 *      gone, so a command killed in between leaves a note that the next cleanup, delete or index rebuild acts on
 *      (src/maintenance/remove.ts). Every write keeps it as it found it.
 *      `bodySha256` is the SHA-256 of the file's bytes after its first line. Where it holds, the file is as this tool
 *      wrote it, and `list --json` copies its record lines instead of parsing them (src/metadata/listing.ts). A file
 *      without it (written before it existed), or where it does not hold (edited by hand), is read as any other:
 *      parsed, and each record checked. It needed no new version: a reader ignores what it does not know, and the
 *      writers before it rewrote the whole file without it.
 */
import { promises as fs } from 'node:fs';
import { BackupError, errnoCode } from '../errors.js';
import { writeFileSafely, FILE_MODE } from '../fsutil/safe-write.js';
import { withLock } from '../lock/lock.js';
import type { BackupLayout } from '../repository/layout.js';
import { ITEM_SEPARATOR } from '../json-output.js';
import { olderFirst, type BackupRecord } from './record.js';

export const INDEX_SCHEMA_VERSION = 1;

export interface IndexFile {
  schemaVersion: number;
  backups: BackupRecord[];
  /** Files in archives/ whose records were removed and which are being deleted (see the header). */
  pendingRemoval: string[];
}

export interface LoadedIndex {
  backups: BackupRecord[];
  /** The schema version found on disk (0 also when there was no file: see `exists`). */
  schemaVersion: number;
  /** False when there is no metadata.json yet. */
  exists: boolean;
  pendingRemoval: string[];
  /** Permission bits of the file, to report a mode looser than 0600. */
  mode?: number;
}

const REBUILD_HINT = 'run `mcp backup index rebuild` to rebuild it from the archives';

function corrupt(file: string, why: string): BackupError {
  return new BackupError('INDEX_CORRUPT', `${file} is corrupt (${why}); it was left as it is: ${REBUILD_HINT}`, { file, reason: why });
}

/** Checks just enough of each record that list/show/restore can rely on its fields. */
function checkRecord(value: unknown, file: string, index: number): BackupRecord {
  const r = value as Partial<BackupRecord> | null;
  const ok =
    r !== null &&
    typeof r === 'object' &&
    typeof r.id === 'string' &&
    (r.type === 'full' || r.type === 'incremental' || r.type === 'service') &&
    typeof r.createdAt === 'string' &&
    Array.isArray(r.services) &&
    typeof r.archive === 'string' &&
    typeof r.manifest === 'string' &&
    typeof r.size === 'number' &&
    typeof r.sha256 === 'string';
  if (!ok) throw corrupt(file, `record ${index + 1} is incomplete`);
  const problem = recordProblem(r);
  if (problem) throw corrupt(file, `record ${index + 1} (id ${JSON.stringify(r.id!.slice(0, 80))}): ${problem}`);
  return r as BackupRecord;
}

/**
 * Ids, service names, and the names of files in archives/: plain names, never a path. A record is read as it is
 * by every command, so a hand-edited or hostile index must not name a file outside archives/ (src/storage/local.ts
 * refuses those too), smuggle terminal escapes into output, or give a field a type the code does not expect.
 */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const COUNTS = ['size', 'entries', 'files', 'bytes', 'storedFiles', 'storedBytes', 'deletedEntries', 'changedWhileReading', 'durationMs'] as const;
const PARTS = ['config', 'volumes', 'logs'] as const;
const ENCRYPTION_MODES: readonly unknown[] = ['none', 'recipients', 'passphrase'];
const ORIGIN_KINDS: readonly unknown[] = ['manual', 'schedule', 'safety'];

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isPlainName(value: unknown): boolean {
  return typeof value === 'string' && PLAIN_NAME.test(value);
}

/** What is wrong with a record that has every required field, or undefined. */
function recordProblem(r: Record<string, unknown>): string | undefined {
  if (!isPlainName(r.id)) return 'its id is not a backup id';
  if (Number.isNaN(Date.parse(r.createdAt as string))) return 'its createdAt is not a date';
  if (!(r.services as unknown[]).every(isPlainName)) return 'its services are not a list of service names';
  if (!isPlainName(r.archive)) return 'its archive is not a file name inside archives/';
  if (!isPlainName(r.manifest)) return 'its manifest is not a file name inside archives/';
  if (r.parent !== undefined && !isPlainName(r.parent)) return 'its parent is not a backup id';
  if (r.parent === r.id) return 'it is its own parent';
  for (const key of COUNTS) {
    const n = r[key];
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= 0)) return `its ${key} is not a count`;
  }
  const parts = r.parts;
  if (!isObject(parts) || !PARTS.every((p) => typeof parts[p] === 'boolean')) return 'its parts are missing';
  const compression = r.compression;
  if (!isObject(compression) || (compression.algorithm !== 'gzip' && compression.algorithm !== 'none')) return 'its compression is not gzip or none';
  const encryption = r.encryption;
  if (!isObject(encryption) || !ENCRYPTION_MODES.includes(encryption.mode)) return 'its encryption is not none, recipients or passphrase';
  const origin = r.origin;
  if (!isObject(origin) || !ORIGIN_KINDS.includes(origin.kind)) return 'its origin is missing';
  if (r.description !== undefined && typeof r.description !== 'string') return 'its description is not text';
  return undefined;
}

/** Two records with one id would make every id ambiguous and a removal reach both. */
function checkUnique(records: readonly BackupRecord[], file: string): BackupRecord[] {
  const seen = new Set<string>();
  for (const record of records) {
    if (seen.has(record.id)) throw corrupt(file, `two records have the id ${record.id}`);
    seen.add(record.id);
  }
  return records as BackupRecord[];
}

export function parseIndex(text: string, file: string): IndexFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, (error as Error).message);
  }
  // Version 0: a bare array of records.
  const index = (Array.isArray(value) ? { schemaVersion: 0, backups: value } : value) as Partial<IndexFile> | null;
  if (!index || typeof index !== 'object' || typeof index.schemaVersion !== 'number' || !Array.isArray(index.backups)) {
    throw corrupt(file, 'no schemaVersion and backups list');
  }
  if (!Number.isInteger(index.schemaVersion) || index.schemaVersion < 0) {
    throw corrupt(file, `schemaVersion ${index.schemaVersion} is not a version number`);
  }
  if (index.schemaVersion > INDEX_SCHEMA_VERSION) {
    throw new BackupError(
      'INDEX_TOO_NEW',
      `${file} has schema version ${index.schemaVersion}, newer than this mcp backup knows (${INDEX_SCHEMA_VERSION}): upgrade mcp backup`,
      { file, schemaVersion: index.schemaVersion },
    );
  }
  const pending: unknown = index.pendingRemoval ?? [];
  if (!Array.isArray(pending) || !pending.every((name) => typeof name === 'string')) {
    throw corrupt(file, 'pendingRemoval is not a list of file names');
  }
  const backups = index.backups.map((record, i) => checkRecord(migrateRecord(record, index.schemaVersion!), file, i));
  return { schemaVersion: index.schemaVersion, backups: checkUnique(backups, file).sort(olderFirst), pendingRemoval: pending };
}

/** Upgrades one record from an older schema to the current one, step by step. */
function migrateRecord(record: unknown, fromVersion: number): unknown {
  let migrated = record;
  if (fromVersion < 1 && migrated !== null && typeof migrated === 'object' && !('origin' in migrated)) {
    migrated = { ...migrated, origin: { kind: 'manual' } };
  }
  return migrated;
}

export async function readIndex(layout: BackupLayout): Promise<LoadedIndex> {
  let text: string;
  let mode: number;
  try {
    const handle = await fs.open(layout.metadata, 'r');
    try {
      mode = (await handle.stat()).mode & 0o777;
      // Bytes, then one decode: reading as 'utf8' decodes chunk by chunk, a tenth of `list` over 10,000 records.
      text = (await handle.readFile()).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { backups: [], schemaVersion: 0, exists: false, pendingRemoval: [] };
    throw new BackupError('IO', `cannot read ${layout.metadata}: ${(error as Error).message}`, { file: layout.metadata });
  }
  const parsed = parseIndex(text, layout.metadata);
  return { backups: parsed.backups, schemaVersion: parsed.schemaVersion, exists: true, pendingRemoval: parsed.pendingRemoval, mode };
}

function headerLine(checksum: string): string {
  return `{"schemaVersion": ${INDEX_SCHEMA_VERSION}, "bodySha256": "${checksum}", "backups": [`;
}

/** The `bodySha256` of an index's first line, if that line is as `serializeIndex` writes it. */
export function bodyChecksumOf(firstLine: string): string | undefined {
  const checksum = /"bodySha256": "([0-9a-f]{64})"/.exec(firstLine)?.[1];
  return checksum !== undefined && firstLine === headerLine(checksum) ? checksum : undefined;
}

/**
 * The SHA-256 of `text`, with node:crypto loaded on the first write of the index rather than at start-up: loading it
 * cost every command about 6 ms, and most never write the index.
 */
function sha256Hex(text: string): string {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(text).digest('hex');
}

/**
 * One record per line, newest first, the lines joined as `--json` joins the items of an array: readable,
 * diff-friendly, and what `list --json` prints, byte for byte.
 */
export function serializeIndex(records: BackupRecord[], pendingRemoval: readonly string[] = []): string {
  const lines = [...records].sort((a, b) => olderFirst(b, a)).map((r) => JSON.stringify(r));
  const pending = pendingRemoval.length > 0 ? `,\n"pendingRemoval": ${JSON.stringify([...new Set(pendingRemoval)])}` : '';
  const body = `${lines.join(ITEM_SEPARATOR)}${lines.length > 0 ? '\n' : ''}]${pending}}\n`;
  return `${headerLine(sha256Hex(body))}\n${body}`;
}

/** Runs `fn` holding the index lock: the only way to read-modify-write metadata.json. */
export async function withIndexLock<T>(layout: BackupLayout, fn: () => Promise<T>, options: { timeoutMs?: number } = {}): Promise<T> {
  return withLock(layout.indexLock, { what: 'the backup index', ...options }, fn);
}

/**
 * Writes the index atomically; call it holding the index lock, with the index as read under that lock. A file of an
 * older schema is copied to `metadata.json.v<N>.bak` first (an existing copy is kept as it is).
 */
export async function writeIndex(
  layout: BackupLayout,
  previous: Pick<LoadedIndex, 'exists' | 'schemaVersion'>,
  records: BackupRecord[],
  pendingRemoval: readonly string[] = [],
): Promise<void> {
  if (previous.exists && previous.schemaVersion < INDEX_SCHEMA_VERSION) {
    await keepCopy(layout.metadata, `${layout.metadata}.v${previous.schemaVersion}.bak`);
  }
  await writeFileSafely(layout.metadata, serializeIndex(records, pendingRemoval));
}

/**
 * Read-modify-write of the index under the lock. `mutate` gets the current records and returns the new list (or
 * undefined to leave the file untouched). The promise resolves once the new index is durable. Pending removals are
 * kept as they were (only src/maintenance/remove.ts acts on them).
 */
export async function updateIndex<T>(
  layout: BackupLayout,
  mutate: (records: BackupRecord[]) => Promise<{ records?: BackupRecord[]; result: T }> | { records?: BackupRecord[]; result: T },
  options: { timeoutMs?: number } = {},
): Promise<T> {
  return withIndexLock(
    layout,
    async () => {
      const current = await readIndex(layout);
      const { records, result } = await mutate([...current.backups]);
      if (records) await writeIndex(layout, current, records, current.pendingRemoval);
      return result;
    },
    options,
  );
}

/** Keeps a copy of a file before it is migrated or rebuilt; an existing copy is never overwritten. */
export async function keepCopy(file: string, copy: string): Promise<string | undefined> {
  try {
    await fs.copyFile(file, copy, fs.constants.COPYFILE_EXCL);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return copy;
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  await fs.chmod(copy, FILE_MODE);
  return copy;
}
