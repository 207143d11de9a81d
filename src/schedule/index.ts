/**
 * Schedules: cron expressions (cron.ts), schedules.json (store.ts), when a schedule is due (due.ts, pure), running
 * one schedule safely among several schedulers (runner.ts), and the daemon loop (daemon.ts). The backup engine and
 * retention are injected (`runBackup`, `applyRetention`), so this folder knows nothing of archives.
 */
export { describeCron, formatInZone, machineTimezone, nextRuns, parseCron, resolveTimezone, CRON_MACROS, type ParsedCron } from './cron.js';
export { computeDue, scheduleFingerprint, type DueDecision, type DueInput, type DueOptions } from './due.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { formatEvent, formatBytes, formatDuration, type SchedulerEvent, type SchedulerLog } from './events.js';
export {
  addSchedule,
  listSchedules,
  readSchedules,
  recordRun,
  removeSchedule,
  resolveScheduleId,
  scheduleFiles,
  updateSchedules,
  viewSchedule,
  SCHEDULES_SCHEMA_VERSION,
  type AddedSchedule,
  type LoadedSchedules,
  type ScheduleFiles,
  type ScheduleView,
} from './store.js';
export {
  runDue,
  runNow,
  type ApplyRetention,
  type RetentionOutcome,
  type RunBackup,
  type RunBackupContext,
  type RunBackupResult,
  type RunDueReport,
  type RunOutcome,
  type SchedulerOptions,
} from './runner.js';
export { runDaemon, type DaemonOptions } from './daemon.js';
export type { NewSchedule, RunResult, RunTrigger, RunningState, Schedule, ScheduleBackupOptions, ScheduleRetention, ScheduleState } from './types.js';
