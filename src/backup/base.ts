/**
 * Which backup an incremental builds on: the newest backup of the same scope (same services; same parts where the
 * caller chose them, else whatever the newest one took) whose whole chain is present. The incremental then takes
 * that backup's parts, so it continues the chain exactly.
 */
import { BackupError } from '../errors.js';
import type { BackupParts, BackupRecord } from '../metadata/record.js';

export interface BaseRequest {
  services: readonly string[];
  /** True when the incremental covers the whole platform (no --services). */
  wholePlatform: boolean;
  includeLogs?: boolean;
  volumes?: boolean;
}

function chainComplete(records: readonly BackupRecord[], record: BackupRecord): boolean {
  const seen = new Set<string>();
  for (let current: BackupRecord | undefined = record; current; ) {
    if (seen.has(current.id)) return false;
    seen.add(current.id);
    if (current.parent === undefined) return current.type !== 'incremental';
    const parentId: string = current.parent;
    current = records.find((r) => r.id === parentId);
  }
  return false;
}


export function findIncrementalBase(records: readonly BackupRecord[], request: BaseRequest): { base: BackupRecord; parts: BackupParts } {
  const wanted = [...request.services].sort().join('\n');
  const candidates = records
    .filter(
      (r) =>
        [...r.services].sort().join('\n') === wanted &&
        (request.includeLogs === undefined || r.parts.logs === request.includeLogs) &&
        (request.volumes === undefined || r.parts.volumes === request.volumes),
    )
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  const base = candidates.find((r) => chainComplete(records, r));
  if (!base) {
    const names = request.services.join(',');
    const how = request.wholePlatform
      ? 'run a full backup first: mcp backup create --type full'
      : `run a service backup first: mcp backup create --type service --services ${names}`;
    const broken = candidates.length > 0 ? ` (the ${candidates.length} backup(s) of this scope have broken chains)` : '';
    throw new BackupError('NO_BASE', `no backup of ${request.wholePlatform ? 'the whole platform' : `services ${names}`} to build an incremental on${broken}: ${how}`, {
      services: request.services,
    });
  }
  return { base, parts: base.parts };
}
