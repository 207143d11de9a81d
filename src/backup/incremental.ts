/**
 * Where an incremental starts: the backup it extends (see base.ts), the scope it continues, and the state of the
 * platform's paths at that backup's time, folded from the manifests of its chain into a compact state, which the
 * host caches (archive/state-cache.ts) so that the next incremental reads it instead of the manifests. Encrypted
 * bases are read from the host's plain manifest cache, so an incremental needs no secret.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { CompactState } from '../archive/compact-state.js';
import { DigestStream } from '../archive/digest.js';
import { ManifestCache } from '../archive/manifest-cache.js';
import type { Manifest } from '../archive/manifest.js';
import { manifestGunzip, readManifestStream } from '../archive/manifest-reader.js';
import { loadManifest } from '../archive/read.js';
import { StateCache } from '../archive/state-cache.js';
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
  /** What change detection needs of the parent's state. */
  state: CompactState;
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
  const key = options.decryptionKey ?? (options.encryption?.mode === 'passphrase' ? { passphrase: options.encryption.passphrase } : undefined);
  const scope: BackupScope = { services, parts: { ...parts, platformConfig: parts.platformConfig && platform.configFile !== undefined } };
  return { scope, base: { parent: base, state: await chainState(platform, storage, records, chain, key) } };
}

/**
 * The state at the chain's last backup: from the host's state cache when it has that backup's state, else the
 * newest state it has of the chain (or none) with the later manifests folded onto it, then cached for next time.
 */
async function chainState(
  platform: Platform,
  storage: ArchiveStorage,
  records: readonly BackupRecord[],
  chain: readonly BackupRecord[],
  key: DecryptionKey | undefined,
): Promise<CompactState> {
  const states = new StateCache(platform.root);
  // The newest backup of the chain whose state is cached: only the manifests after it are read.
  let from = 0;
  let state: CompactState | undefined;
  for (let i = chain.length - 1; i >= 0 && state === undefined; i--) {
    state = await states.get(chain[i]!);
    if (state) from = i + 1;
  }
  if (from === chain.length) return state!;

  const manifests = new ManifestCache(platform.root);
  for (let i = from; i < chain.length; i++) {
    const record = chain[i]!;
    // One manifest at a time: each is folded, then let go.
    const previousId = chain[i - 1]?.id;
    state =
      (await streamedFold(state, previousId, record, storage, manifests)) ??
      CompactState.fold(state, previousId, await manifestOf(record, storage, manifests, key));
  }
  const base = chain[chain.length - 1]!;
  try {
    await states.put(base, state!);
    // The base's state replaces its ancestors' (the next incremental extends the base); states of deleted backups go.
    const ancestors = new Set(chain.slice(0, -1));
    await states.prune(records.filter((r) => !ancestors.has(r)));
  } catch {
    // A cache that cannot be written costs the next incremental some time, not this one its backup.
  }
  return state!;
}

/** What a manifest may weigh uncompressed; the same bound as the manifest copy's gunzip in archive/read.ts. */
const MAX_MANIFEST_BYTES = 1 << 30;

/**
 * `CompactState.fold` over a backup's manifest read as a stream (archive/manifest-reader.ts: its text is never held
 * whole, and the first manifest of a chain, the large one, not even as entries), from the host's plain copy of an
 * encrypted backup's manifest, or from the copy beside an unencrypted backup's archive when it matches its recorded
 * checksum. Undefined when it cannot be read so: `manifestOf` then reads it, with its fallbacks and errors.
 */
async function streamedFold(
  previous: CompactState | undefined,
  previousId: string | undefined,
  record: BackupRecord,
  storage: ArchiveStorage,
  cache: ManifestCache,
): Promise<CompactState | undefined> {
  try {
    let plain: Readable | undefined;
    let digest: DigestStream | undefined;
    if (record.encryption.mode !== 'none') {
      plain = await cache.open(record.id);
      if (!plain) return undefined;
    } else {
      digest = new DigestStream();
      plain = pipeline(await storage.open(record.manifest), digest, manifestGunzip(), () => undefined);
    }
    const where = digest ? `manifest ${record.manifest}` : `cached manifest of ${record.id}`;
    const builder = previous ? undefined : CompactState.builder();
    const manifest = await readManifestStream(plain, where, MAX_MANIFEST_BYTES, builder && ((entry) => builder.add(entry)));
    // The whole copy has passed through the digest once its gunzip ended.
    if (manifest.id !== record.id || (digest && digest.digest() !== record.manifestSha256)) return undefined;
    return builder ? builder.finish(manifest) : CompactState.fold(previous, previousId, manifest);
  } catch {
    return undefined;
  }
}

/** A backup's manifest; an encrypted backup's from the host's plain copy when it has one, so no secret is needed. */
async function manifestOf(record: BackupRecord, storage: ArchiveStorage, cache: ManifestCache, key: DecryptionKey | undefined): Promise<Manifest> {
  const cached = record.encryption.mode !== 'none' ? await cache.get(record.id) : undefined;
  if (cached) return cached;
  if (record.encryption.mode !== 'none' && !key) {
    throw new BackupError(
      'NO_BASE',
      `the incremental's base ${record.id} is encrypted and this host has no plain copy of its manifest: pass --identity FILE to read it, or take a full backup`,
      { id: record.id },
    );
  }
  return loadManifest(storage, record, key);
}

function sha256OfFile(absolute: string): string | undefined {
  try {
    return createHash('sha256').update(fs.readFileSync(absolute)).digest('hex');
  } catch {
    return undefined;
  }
}

/** --verify-content: whether a file's content differs from the SHA-256 its base recorded. */
export function contentDiffers(previousSha256: string | undefined, current: ScannedEntry): boolean {
  return sha256OfFile(current.absolute) !== previousSha256;
}

