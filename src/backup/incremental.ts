/**
 * Where an incremental starts: the backup it extends (see base.ts), the scope it continues, and the state of the
 * platform's paths at that backup's time, folded from the manifests of its chain. Encrypted bases are read from the
 * host's plain manifest cache, so an incremental needs no secret.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { ManifestCache } from '../archive/manifest-cache.js';
import type { Manifest } from '../archive/manifest.js';
import { loadManifest } from '../archive/read.js';
import { foldChain, type BackupState, type StateEntry } from '../archive/state.js';
import type { DecryptionKey, EncryptionKey } from '../crypto/index.js';
import { BackupError } from '../errors.js';
import type { BackupRecord } from '../metadata/record.js';
import type { Platform } from '../platform/types.js';
import type { ArchiveStorage } from '../storage/storage.js';
import type { ScannedEntry } from '../walk/scan.js';
import { findIncrementalBase } from './base.js';
import { findServices, type BackupScope } from './scope.js';

/** What of the create options decides an incremental's base. */
export interface IncrementalRequest {
  services?: string[];
  includeLogs?: boolean;
  volumes?: boolean;
  encryption?: EncryptionKey;
  decryptionKey?: DecryptionKey;
}

/** An incremental's starting point: the backup it extends and the state of the platform paths at that time. */
export interface IncrementalBase {
  parent: BackupRecord;
  state: BackupState;
}

/** For an incremental: the scope it continues, its parent, and the parent's state. */
export async function resolveIncremental(
  platform: Platform,
  storage: ArchiveStorage,
  records: readonly BackupRecord[],
  options: IncrementalRequest,
): Promise<{ scope: BackupScope; base: IncrementalBase }> {
  const wholePlatform = !options.services || options.services.length === 0;
  const services = wholePlatform ? platform.services : findServices(platform, options.services!);
  const { base, parts } = findIncrementalBase(records, {
    services: services.map((s) => s.name),
    wholePlatform,
    ...(options.includeLogs !== undefined && { includeLogs: options.includeLogs }),
    ...(options.volumes !== undefined && { volumes: options.volumes }),
  });
  const chain: BackupRecord[] = [base];
  for (let parent = base.parent; parent !== undefined; ) {
    const record = records.find((r) => r.id === parent)!;
    chain.unshift(record);
    parent = record.parent;
  }
  const manifests: Manifest[] = [];
  const cache = new ManifestCache(platform.root);
  const key = options.decryptionKey ?? (options.encryption?.mode === 'passphrase' ? { passphrase: options.encryption.passphrase } : undefined);
  for (const record of chain) {
    const cached = record.encryption.mode !== 'none' ? await cache.get(record.id) : undefined;
    if (cached) {
      manifests.push(cached);
      continue;
    }
    if (record.encryption.mode !== 'none' && !key) {
      throw new BackupError(
        'NO_BASE',
        `the incremental's base ${record.id} is encrypted and this host has no plain copy of its manifest: pass --identity FILE to read it, or take a full backup`,
        { id: record.id },
      );
    }
    manifests.push(await loadManifest(storage, record, key));
  }
  const scope: BackupScope = { services, parts: { ...parts, platformConfig: parts.platformConfig && platform.configFile !== undefined } };
  return { scope, base: { parent: base, state: foldChain(manifests) } };
}

function sha256OfFile(absolute: string): string | undefined {
  try {
    return createHash('sha256').update(fs.readFileSync(absolute)).digest('hex');
  } catch {
    return undefined;
  }
}

export function contentDiffers(previous: StateEntry, current: ScannedEntry): boolean {
  return sha256OfFile(current.absolute) !== previous.sha256;
}

