/** The implementation of `BackupInterface` over one platform: each method delegates to the module that owns it. */
import type { Writable } from 'node:stream';
import type { BackupInterface, ListFilter, ShowOptions, ShowResult, VerifyRequest } from './backup-interface.js';
import type { CreateBackupOptions, CreateBackupResult } from './backup/create.js';
import { BackupError } from './errors.js';
import { writeJsonArray } from './json-output.js';
import type { CleanupOptions, CleanupResult, DeleteOptions, DeleteResult, RebuildOptions, RebuildReport } from './maintenance/index.js';
import { resolveBackupId } from './metadata/ids.js';
import { olderFirst, type BackupRecord } from './metadata/record.js';
import { readIndex } from './metadata/store.js';
import type { ServiceSummary } from './platform/inventory.js';
import { loadPlatform, type LocatePlatformOptions } from './platform/load.js';
import type { Platform } from './platform/types.js';
import { backupLayout, ensureLayout, type BackupLayout } from './repository/layout.js';
import { describeLooseMode, findLooseModes } from './repository/modes.js';
import { LocalStorage } from './storage/local.js';
import type { ArchiveStorage } from './storage/storage.js';
import type { VerifyReport } from './verify/verify.js';
import type { RestoreOptions, RestoreResult } from './restore/restore.js';
import type {
  AddedSchedule,
  NewSchedule,
  RunDueReport,
  RunOutcome,
  Schedule,
  SchedulerLog,
  SchedulerOptions,
  ScheduleView,
} from './schedule/index.js';

/**
 * The operations' modules, loaded when first used. A command then evaluates only the code it runs: `list` starts
 * without the archive, restore, encryption and scheduling code and their dependencies.
 */
const operations = {
  create: () => import('./backup/create.js'),
  read: () => import('./archive/read.js'),
  listing: () => import('./metadata/listing.js'),
  inventory: () => import('./platform/inventory.js'),
  maintenance: () => import('./maintenance/index.js'),
  restore: () => import('./restore/restore.js'),
  schedule: () => import('./schedule/index.js'),
  scheduled: () => import('./backup/scheduled.js'),
  verify: () => import('./verify/verify.js'),
};

const DAY_MS = 24 * 60 * 60 * 1000;

export function newestFirst(records: readonly BackupRecord[]): BackupRecord[] {
  return [...records].sort((a, b) => olderFirst(b, a));
}

/** The chain of `record`, base first. Stops at a missing parent (the caller reports the break). */
export function chainOf(records: readonly BackupRecord[], record: BackupRecord): BackupRecord[] {
  const chain = [record];
  const seen = new Set([record.id]);
  for (let parentId = record.parent; parentId !== undefined; ) {
    const parent = records.find((r) => r.id === parentId);
    if (!parent || seen.has(parent.id)) break;
    chain.unshift(parent);
    seen.add(parent.id);
    parentId = parent.parent;
  }
  return chain;
}

export class BackupManager implements BackupInterface {
  readonly platform: Platform;
  readonly layout: BackupLayout;
  readonly storage: ArchiveStorage;

  constructor(platform: Platform) {
    this.platform = platform;
    this.layout = backupLayout(platform.backupDir);
    // Reading needs no staging folder; writers open their own workspace.
    this.storage = new LocalStorage(this.layout.archives, () => Promise.reject(new Error('read-only storage handle')));
  }

  async services(): Promise<ServiceSummary[]> {
    return (await operations.inventory()).inventory(this.platform);
  }

  async create(options: CreateBackupOptions): Promise<CreateBackupResult> {
    return (await operations.create()).createBackup(this.platform, options);
  }

  async records(): Promise<BackupRecord[]> {
    return (await readIndex(this.layout)).backups;
  }

  async list(filter: ListFilter = {}): Promise<BackupRecord[]> {
    const now = (filter.now ?? new Date()).getTime();
    if (filter.days !== undefined && !(Number.isFinite(filter.days) && filter.days >= 0)) {
      throw new BackupError('USAGE', `--days must be a number of days (0 or more), got ${filter.days}`);
    }
    if (filter.service !== undefined && !this.platform.services.some((s) => s.name === filter.service)) {
      const records = await this.records();
      // A service no longer configured may still be in old backups: only refuse names no backup knows either.
      if (!records.some((r) => r.services.includes(filter.service!))) {
        throw new BackupError('SERVICE_UNKNOWN', `unknown service ${filter.service}: this platform has ${this.platform.services.map((s) => s.name).join(', ')}`);
      }
    }
    const records = await this.records();
    await this.#reportLooseModes(filter);
    return newestFirst(
      records.filter(
        (r) =>
          (filter.type === undefined || r.type === filter.type) &&
          (filter.service === undefined || r.services.includes(filter.service)) &&
          (filter.days === undefined || now - Date.parse(r.createdAt) <= filter.days * DAY_MS),
      ),
    );
  }

  async listJson(out: Writable, filter: ListFilter = {}): Promise<void> {
    const whole = filter.type === undefined && filter.days === undefined && filter.service === undefined;
    if (!whole) return writeJsonArray(out, await this.list(filter));
    await this.#reportLooseModes(filter);
    if (await (await operations.listing()).copyListing(this.layout.metadata, out)) return;
    await writeJsonArray(out, newestFirst(await this.records()));
  }

  async show(id: string, options: ShowOptions = {}): Promise<ShowResult> {
    const records = await this.records();
    const record = resolveBackupId(records, id);
    const result: ShowResult = {
      record,
      chain: chainOf(records, record),
      dependents: records.filter((r) => r.parent === record.id),
    };
    if (options.files) result.manifest = await (await operations.read()).loadManifest(this.storage, record, options.key);
    return result;
  }

  /** Read-only commands report loose modes of the backup folder, its index and schedules, and change nothing. */
  async #reportLooseModes(observer: { onWarning?: (message: string) => void }): Promise<void> {
    if (!observer.onWarning) return;
    for (const loose of await findLooseModes(this.layout)) observer.onWarning(describeLooseMode(loose, false));
  }

  async verify(request: VerifyRequest): Promise<VerifyReport[]> {
    const records = await this.records();
    const selected = request.all ? newestFirst(records) : (request.ids ?? []).map((id) => resolveBackupId(records, id));
    if (selected.length === 0 && !request.all) throw new BackupError('USAGE', 'name a backup id to verify, or pass --all');
    await this.#reportLooseModes(request);
    const { verifyBackup } = await operations.verify();
    const reports: VerifyReport[] = [];
    for (const record of selected) {
      reports.push(await verifyBackup(this.storage, record, { ...request, records }));
    }
    return reports;
  }

  async cleanup(options: CleanupOptions = {}): Promise<CleanupResult> {
    return (await operations.maintenance()).cleanupBackups(this.platform, options);
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    return (await operations.maintenance()).deleteBackup(this.platform, id, options);
  }

  async rebuildIndex(options: RebuildOptions = {}): Promise<RebuildReport> {
    return (await operations.maintenance()).rebuildIndex(this.platform, options);
  }

  async restore(options: RestoreOptions): Promise<RestoreResult> {
    return (await operations.restore()).restoreBackup(this.platform, this.storage, options);
  }

  /** What the scheduler needs: where schedules live, how a scheduled backup runs, and its retention. */
  async #scheduler(log?: SchedulerLog): Promise<SchedulerOptions> {
    const [{ scheduleFiles }, { scheduledBackupRunner }, { applyRetention }] = await Promise.all([
      operations.schedule(),
      operations.scheduled(),
      operations.maintenance(),
    ]);
    return {
      files: scheduleFiles(this.layout),
      runBackup: scheduledBackupRunner(this.platform),
      applyRetention: async (schedule, { signal }) => {
        const result = await applyRetention(this, { scheduleId: schedule.id, ...(schedule.retention && { policy: schedule.retention }), signal });
        return { removed: result.removed };
      },
      ...(log && { log }),
    };
  }

  async addSchedule(input: NewSchedule): Promise<AddedSchedule> {
    const [{ addSchedule, scheduleFiles }, { checkNewSchedule }] = await Promise.all([operations.schedule(), operations.scheduled()]);
    await checkNewSchedule(this.platform, input);
    await ensureLayout(this.layout);
    return addSchedule(scheduleFiles(this.layout), input);
  }

  async listSchedules(): Promise<ScheduleView[]> {
    const { listSchedules, scheduleFiles } = await operations.schedule();
    return listSchedules(scheduleFiles(this.layout));
  }

  async deleteSchedule(id: string): Promise<Schedule> {
    const { removeSchedule, scheduleFiles } = await operations.schedule();
    return removeSchedule(scheduleFiles(this.layout), id);
  }

  async runSchedule(id: string, options: { signal?: AbortSignal } = {}): Promise<RunOutcome> {
    return (await operations.schedule()).runNow(await this.#scheduler(), id, options);
  }

  async runDueSchedules(options: { signal?: AbortSignal; log?: SchedulerLog } = {}): Promise<RunDueReport> {
    return (await operations.schedule()).runDue(await this.#scheduler(options.log), { ...(options.signal && { signal: options.signal }) });
  }

  async runDaemon(signal: AbortSignal, options: { log?: SchedulerLog; pollMs?: number; graceMs?: number } = {}): Promise<void> {
    const scheduler = await this.#scheduler(options.log);
    return (await operations.schedule()).runDaemon(
      { ...scheduler, ...(options.pollMs !== undefined && { pollMs: options.pollMs }), ...(options.graceMs !== undefined && { graceMs: options.graceMs }) },
      signal,
    );
  }
}

/** Opens the platform found from `options` (see locatePlatformRoot) and returns its backup interface. */
export async function openPlatform(options: LocatePlatformOptions): Promise<BackupManager> {
  return new BackupManager(await loadPlatform(options));
}
