/**
 * What a restore needs before it writes anything, read-only: the backup and its chain from the index (a broken chain,
 * or an encrypted one without its key, is refused from the index alone), each manifest (checksummed copies, or this
 * host's cached plain copy for a keyless dry run), the folded state checked for anything unsafe, the roots mapped to
 * disk, a metadata scan of what is there, and the plan.
 */
import { ManifestCache } from '../archive/manifest-cache.js';
import { FoldedState } from '../archive/folded-state.js';
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
import { handEntries } from '../archive/manifest-reader.js';
import { loadManifestWithDigest } from '../archive/read.js';
import { checkContinues } from '../archive/state.js';
import { chainOf } from '../backup-manager.js';
import { keyRequired } from '../crypto/index.js';
import { BackupError } from '../errors.js';
import { resolveBackupId } from '../metadata/ids.js';
import type { BackupRecord } from '../metadata/record.js';
import { readIndex } from '../metadata/store.js';
import type { Platform } from '../platform/types.js';
import type { BackupLayout } from '../repository/layout.js';
import type { ArchiveStorage } from '../storage/storage.js';
import { scanDestination } from './disk.js';
import { planRestore, type RestorePlan } from './plan.js';
import type { RestoreOptions } from './restore.js';
import { selectRoots, type SelectedRoots } from './roots.js';
import { checkDeletedPaths, checkManifestEntry, checkManifestRoots, checkState } from './safety.js';
import type { ChainMember } from './stage.js';

export interface Prepared {
  record: BackupRecord;
  chain: ChainMember[];
  state: FoldedState;
  selected: SelectedRoots;
  plan: RestorePlan;
}

/** The backup and its chain, base first; refuses a broken chain, and an encrypted one without a key (but to plan). */
export async function resolveChain(layout: BackupLayout, options: RestoreOptions): Promise<{ record: BackupRecord; chainRecords: BackupRecord[] }> {
  const records = (await readIndex(layout)).backups;
  const record = resolveBackupId(records, options.id);
  const chainRecords = chainOf(records, record);
  const base = chainRecords[0]!;
  if (base.parent !== undefined || base.type === 'incremental') {
    throw new BackupError(
      'INTEGRITY',
      `backup ${record.id} cannot be restored: its chain is broken (backup ${base.parent ?? base.id}'s base is missing from the index); restore an older complete backup instead`,
      { id: record.id },
    );
  }
  const encrypted = chainRecords.find((r) => r.encryption.mode !== 'none');
  if (encrypted && !options.key && !options.dryRun) throw keyRequired(encrypted.encryption.mode as 'recipients' | 'passphrase', `backup ${encrypted.id}`);
  return { record, chainRecords };
}

export async function prepare(platform: Platform, storage: ArchiveStorage, layout: BackupLayout, options: RestoreOptions, asRoot: boolean): Promise<Prepared> {
  const { record, chainRecords } = await resolveChain(layout, options);
  const cache = new ManifestCache(platform.root);
  const manifests: Manifest[] = [];
  const listings: FoldedState[] = [];
  const digests: (string | undefined)[] = [];
  for (const r of chainRecords) {
    const where = `backup ${r.id}`;
    // Each manifest is folded alone, checked entry by entry as it streams in, into the listing staging checks that
    // backup's archive against; a copy that fails part way is dropped whole and the archive's own manifest read.
    let listing = new FoldedState();
    const onEntry = (entry: ManifestEntry, header: Manifest) => {
      if (listing.slots === 0) listing.begin({ id: header.id, deleted: [] });
      checkManifestEntry(entry, where, (p) => listing.has(p));
      listing.add(entry);
    };
    const restart = () => (listing = new FoldedState());
    // Without a key, a dry run can still plan from this host's plain copy of an encrypted backup's manifest.
    const cached = r.encryption.mode !== 'none' && !options.key ? await cache.get(r.id) : undefined;
    const loaded = cached ? undefined : await loadManifestWithDigest(storage, r, options.key, { onEntry, restart });
    const manifest = cached ?? loaded!.manifest;
    if (cached) handEntries(cached, onEntry);
    digests.push(loaded?.plainSha256);
    if (manifest.id !== r.id) throw new BackupError('INTEGRITY', `the manifest of backup ${r.id} belongs to backup ${manifest.id}`, { id: r.id });
    checkDeletedPaths(manifest, where);
    checkManifestRoots(manifest, where);
    listing.trim();
    manifests.push(manifest);
    listings.push(listing);
  }
  const state = foldListings(manifests, listings);
  const last = manifests[manifests.length - 1]!;
  checkState(state, last.roots, `backup ${record.id}`);
  const selected = selectRoots(last, platform, {
    ...(options.services !== undefined && { services: options.services }),
    ...(options.target !== undefined && { target: options.target }),
  });
  const scans = selected.roots.map((root) => scanDestination(root, state));
  const plan = planRestore({
    backupId: record.id,
    chain: chainRecords.map((r) => r.id),
    ...(options.target !== undefined && { target: options.target }),
    roots: selected.roots,
    state,
    scans,
    compareOwners: asRoot,
  });
  const chain = chainRecords.map((r, i) => ({
    record: r,
    manifest: manifests[i]!,
    listing: listings[i]!,
    ...(digests[i] !== undefined && { manifestSha256: digests[i] }),
  }));
  return { record, chain, state, selected, plan };
}

/**
 * The chain's state from each backup's own listing, base first. A chain of one backup is its listing (nothing is
 * copied); a longer chain's state is a fold of its own, the listings staying each archive's.
 */
function foldListings(manifests: readonly Manifest[], listings: readonly FoldedState[]): FoldedState {
  manifests.forEach((manifest, i) => checkContinues(manifest, manifests[i - 1]?.id));
  if (listings.length === 1) return listings[0]!;
  const state = new FoldedState();
  manifests.forEach((manifest, i) => {
    state.begin(manifest);
    for (const entry of listings[i]!.values()) state.add(entry);
  });
  state.trim();
  return state;
}
