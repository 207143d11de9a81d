/**
 * The restore plan: a pure function of the backup's state and what is on disk now (metadata only), per service:
 * what will be created, overwritten (content or metadata differs) and deleted, what is already as recorded, what
 * is kept because the backup never covered it, and the bytes. `--dry-run` prints it; a real restore shows it before
 * asking, and reports against it.
 *
 * "Unchanged" is judged from metadata, as an incremental backup judges change: same type, size, mode and mtime (to
 * the millisecond; owners too when they are restored), same link target; a hard link is unchanged while it still
 * shares its file with the path it links to. No file is read to decide.
 */
import type { FoldedState } from '../archive/folded-state.js';
import type { EntryType } from '../archive/manifest.js';
import { SlotList } from '../archive/slot-list.js';
import type { StateEntry } from '../archive/state.js';
import type { DestinationScan, DiskEntry, DiskType } from './disk.js';
import { PLATFORM_SERVICE, type RestoreRoot } from './roots.js';
import { rootFinder } from './safety.js';

export interface PlanChange {
  /** Archive path. */
  path: string;
  /** Where on disk. */
  destination: string;
  type: EntryType | DiskType;
  /** Bytes of content to write (files) or that go away (deleted files). */
  size: number;
  /** For an overwrite: what differs (content, type, mode, mtime, owner, link). */
  reason?: string;
}

export interface PlanRoot {
  archiveRoot: string;
  part: string;
  destination: string;
  /** Whether something is at the destination now. */
  exists: boolean;
}

export interface ServicePlan {
  /** The service, or `_platform` for platform.yaml. */
  service: string;
  roots: PlanRoot[];
  /** Made from the state each time it is read (see planRestore): count with `createCount`. */
  create: PlanChange[];
  /** How many entries `create` lists. */
  createCount: number;
  overwrite: PlanChange[];
  delete: PlanChange[];
  unchanged: number;
  /** Paths the backup never covered (excluded, special files), left as they are. */
  kept: number;
  /** Entries and files of the restored state, and their bytes. */
  entries: number;
  files: number;
  bytes: number;
  /** Bytes of the files created or overwritten. */
  bytesToWrite: number;
}

export interface RestorePlan {
  backupId: string;
  /** Backups whose manifests were folded, base first. */
  chain: string[];
  /** True for an in-place restore, false for --target. */
  inPlace: boolean;
  target?: string;
  services: ServicePlan[];
  totals: { create: number; overwrite: number; delete: number; unchanged: number; kept: number; files: number; bytes: number; bytesToWrite: number };
}

export interface PlanInput {
  backupId: string;
  chain: string[];
  target?: string;
  roots: readonly RestoreRoot[];
  /** The whole state; only entries under `roots` count. */
  state: FoldedState;
  /** One scan per root, in the order of `roots`. */
  scans: readonly DestinationScan[];
  /** Owners are compared only when the restore sets them (running as root). */
  compareOwners: boolean;
}

/** Two mtimes are the same when they agree to the millisecond (utimes keeps about a microsecond). */
export function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) < 1;
}

function difference(wanted: StateEntry, found: DiskEntry, compareOwners: boolean): string | undefined {
  const wantedType = wanted.type === 'hardlink' ? 'file' : wanted.type;
  if (found.type !== wantedType) return `type (${found.type} -> ${wanted.type})`;
  if (wanted.type === 'file' && found.size !== wanted.size) return 'content';
  if (wanted.type === 'symlink' && found.link !== wanted.link) return 'link';
  if (wanted.type !== 'symlink' && found.mode !== wanted.mode) return `mode (${found.mode.toString(8)} -> ${wanted.mode.toString(8)})`;
  if (wanted.type !== 'hardlink' && !sameTime(found.mtimeMs, wanted.mtimeMs)) return wanted.type === 'file' ? 'content' : 'mtime';
  if (compareOwners && (found.uid !== wanted.uid || found.gid !== wanted.gid)) return 'owner';
  return undefined;
}

function emptyPlan(service: string): ServicePlan {
  return { service, roots: [], create: [], createCount: 0, overwrite: [], delete: [], unchanged: 0, kept: 0, entries: 0, files: 0, bytes: 0, bytesToWrite: 0 };
}

// The plan keeps the two closures below for as long as a restore runs. They are made out here, not in planRestore,
// because a closure holds on to the scope it was made in: one made there kept the scans of the destination alive
// (an object with two paths per entry on disk), 45 MB of live heap while the bench data was restored over itself.

/** Where each archive path under `root` goes. */
function destinationsUnder(root: RestoreRoot): (p: string) => string {
  return (p) => (p === root.archiveRoot ? root.destination : root.destination + p.slice(root.archiveRoot.length));
}

/** The `create` list of a service's plan, made from the state when it is read. */
function createdFrom(state: FoldedState, groups: readonly { slots: SlotList; destinationOf: (p: string) => string }[]): () => PlanChange[] {
  return () =>
    groups.flatMap(({ slots, destinationOf }) =>
      Array.from(slots, (slot) => {
        const e = state.entryAt(slot);
        return { path: e.path, destination: destinationOf(e.path), type: e.type, size: e.type === 'file' ? e.size : 0 };
      }),
    );
}

export function planRestore(input: PlanInput): RestorePlan {
  const plans = new Map<string, ServicePlan>();
  /** Each service's created paths, root by root: its `create` list is made from them when asked for. */
  const createsOf = new Map<ServicePlan, { slots: SlotList; destinationOf: (p: string) => string }[]>();
  const planOf = (service: string) => {
    let plan = plans.get(service);
    if (!plan) {
      plans.set(service, (plan = emptyPlan(service)));
      createsOf.set(plan, []);
    }
    return plan;
  };

  const diskByPath = new Map(input.scans.flatMap((s) => s.present.map((e) => [e.path, e] as const)));
  // The state's slots of each root, found in one pass (a pass per root costs roots x entries); the entries are
  // made one at a time, so they are not all made at once from a compact state.
  const { state } = input;
  const slotsOf = new Map<RestoreRoot, SlotList>(input.roots.map((root) => [root, new SlotList()]));
  const rootOfPath = rootFinder(input.roots);
  for (let slot = 0; slot < state.slots; slot++) {
    const root = state.holds(slot) ? rootOfPath(state.pathAt(slot)) : undefined;
    if (root) slotsOf.get(root)!.push(slot);
  }
  input.roots.forEach((root, i) => {
    const scan = input.scans[i]!;
    const plan = planOf(root.service);
    plan.roots.push({ archiveRoot: root.archiveRoot, part: root.part, destination: root.destination, exists: scan.exists });
    plan.kept += scan.kept.length;
    const onDisk = new Map(scan.present.map((e) => [e.path, e]));
    const destinationOf = destinationsUnder(root);
    const creates = new SlotList();
    createsOf.get(plan)!.push({ slots: creates, destinationOf });

    for (const slot of slotsOf.get(root)!) {
      const type = state.typeAt(slot);
      plan.entries++;
      const size = type === 'file' ? state.sizeAt(slot) : 0;
      if (type === 'file') {
        plan.files++;
        plan.bytes += size;
      }
      // Into an empty folder (or once every path on disk is matched), an entry is created: no need to make it.
      let found: DiskEntry | undefined;
      if (onDisk.size > 0) {
        const p = state.pathAt(slot);
        found = onDisk.get(p);
        onDisk.delete(p);
      }
      if (!found) {
        creates.push(slot);
        plan.bytesToWrite += size;
        continue;
      }
      const wanted = state.entryAt(slot);
      const p = wanted.path;
      const change: PlanChange = { path: p, destination: destinationOf(p), type: wanted.type, size };
      let reason = difference(wanted, found, input.compareOwners);
      if (!reason && wanted.type === 'hardlink') {
        const linked = diskByPath.get(wanted.link ?? '');
        const target = state.get(wanted.link ?? '');
        if (!linked || linked.ino !== found.ino || linked.dev !== found.dev || !target || difference(target, linked, input.compareOwners)) reason = 'content';
      }
      if (reason) {
        plan.overwrite.push({ ...change, reason });
        plan.bytesToWrite += size;
      } else {
        plan.unchanged++;
      }
    }
    for (const gone of onDisk.values()) {
      plan.delete.push({ path: gone.path, destination: gone.absolute, type: gone.type, size: gone.size });
    }
  });

  // A restore into an empty folder creates every entry: as objects with their destinations the list cost about 150
  // bytes an entry for as long as the restore ran (12 MB for 77k entries), so it is made from the state when read.
  for (const [plan, groups] of createsOf) {
    plan.createCount = groups.reduce((n, g) => n + g.slots.length, 0);
    Object.defineProperty(plan, 'create', { enumerable: true, configurable: true, get: createdFrom(state, groups) });
  }

  // Services in the order they are restored; platform.yaml last.
  const services = [...plans.values()].sort((a, b) => Number(a.service === PLATFORM_SERVICE) - Number(b.service === PLATFORM_SERVICE));
  const totals = { create: 0, overwrite: 0, delete: 0, unchanged: 0, kept: 0, files: 0, bytes: 0, bytesToWrite: 0 };
  for (const s of services) {
    totals.create += s.createCount;
    totals.overwrite += s.overwrite.length;
    totals.delete += s.delete.length;
    totals.unchanged += s.unchanged;
    totals.kept += s.kept;
    totals.files += s.files;
    totals.bytes += s.bytes;
    totals.bytesToWrite += s.bytesToWrite;
  }
  return {
    backupId: input.backupId,
    chain: input.chain,
    inPlace: input.target === undefined,
    ...(input.target !== undefined && { target: input.target }),
    services,
    totals,
  };
}
