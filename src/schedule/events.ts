/**
 * What the scheduler reports: one typed event per thing that happens, and the one log line each becomes. The daemon
 * and `schedule run-due` report only through the `log(line, event)` callback; the CLI decides where lines go.
 */
import { formatInZone } from './cron.js';
import type { RunTrigger } from './types.js';
import { formatBytes, formatDuration } from '../units.js';

interface At {
  at: Date;
}

export type SchedulerEvent = At &
  (
    | { kind: 'daemon-started'; schedules: number; file: string; pid: number }
    | { kind: 'schedule-loaded'; scheduleId: string; expression: string; reading: string; nextRunAt: Date | null; timezone: string }
    | { kind: 'schedule-added'; scheduleId: string; expression: string; reading: string; nextRunAt: Date | null; timezone: string }
    | { kind: 'schedule-changed'; scheduleId: string; expression: string; reading: string; nextRunAt: Date | null; timezone: string }
    | { kind: 'schedule-removed'; scheduleId: string }
    | { kind: 'schedule-invalid'; scheduleId: string; error: string }
    | { kind: 'catch-up'; scheduleId: string; slot: Date; missedSlots: number; missedCapped: boolean; timezone: string }
    | { kind: 'run-started'; scheduleId: string; trigger: RunTrigger; slot?: Date; type: string; timezone: string }
    | { kind: 'run-fallback'; scheduleId: string; reason: string }
    | { kind: 'run-succeeded'; scheduleId: string; backupId: string; size: number; durationMs: number; note?: string }
    | { kind: 'run-failed'; scheduleId: string; error: string; durationMs: number }
    | { kind: 'run-skipped'; scheduleId: string; slot: Date; reason: string; timezone: string }
    | { kind: 'run-interrupted'; scheduleId: string; since: string }
    | { kind: 'retention-applied'; scheduleId: string; removed: string[] }
    | { kind: 'retention-failed'; scheduleId: string; error: string }
    | { kind: 'store-error'; error: string; retryInMs: number }
    | { kind: 'stopping'; running: string[]; graceMs: number }
    | { kind: 'run-aborting'; scheduleId: string; afterMs: number }
    | { kind: 'run-abandoned'; scheduleId: string; afterMs: number }
    | { kind: 'stopped' }
  );

export type SchedulerLog = (line: string, event: SchedulerEvent) => void;

export { formatBytes, formatDuration };

function next(nextRunAt: Date | null, timezone: string): string {
  return nextRunAt ? `next run ${formatInZone(nextRunAt, timezone)}` : 'no run left';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The event as one line of text, after an ISO timestamp. */
export function formatEvent(event: SchedulerEvent): string {
  const body = ((): string => {
    switch (event.kind) {
      case 'daemon-started':
        return `daemon started (pid ${event.pid}): ${plural(event.schedules, 'schedule')} in ${event.file}`;
      case 'schedule-loaded':
        return `schedule ${event.scheduleId} "${event.expression}" (${event.reading}): ${next(event.nextRunAt, event.timezone)}`;
      case 'schedule-added':
        return `schedule ${event.scheduleId} added: "${event.expression}" (${event.reading}), ${next(event.nextRunAt, event.timezone)}`;
      case 'schedule-changed':
        return `schedule ${event.scheduleId} changed: "${event.expression}" (${event.reading}), ${next(event.nextRunAt, event.timezone)}`;
      case 'schedule-removed':
        return `schedule ${event.scheduleId} removed`;
      case 'schedule-invalid':
        return `schedule ${event.scheduleId} cannot run: ${event.error}`;
      case 'catch-up': {
        const earlier =
          event.missedSlots === 0 ? '' : ` (and ${event.missedCapped ? 'at least ' : ''}${plural(event.missedSlots, 'earlier slot')})`;
        return `schedule ${event.scheduleId} missed its run at ${formatInZone(event.slot, event.timezone)}${earlier}: running it once now`;
      }
      case 'run-started': {
        const why = event.slot ? `slot ${formatInZone(event.slot, event.timezone)}` : 'run by hand';
        return `schedule ${event.scheduleId} started: ${event.type} backup (${why})`;
      }
      case 'run-fallback':
        return `schedule ${event.scheduleId}: ${event.reason}`;
      case 'run-succeeded': {
        const note = event.note ? `; ${event.note}` : '';
        return `schedule ${event.scheduleId} succeeded: backup ${event.backupId}, ${formatBytes(event.size)}, ${formatDuration(event.durationMs)}${note}`;
      }
      case 'run-failed':
        return `schedule ${event.scheduleId} failed after ${formatDuration(event.durationMs)}: ${event.error}`;
      case 'run-skipped':
        return `schedule ${event.scheduleId} skipped its run at ${formatInZone(event.slot, event.timezone)}: ${event.reason}`;
      case 'run-interrupted':
        return `schedule ${event.scheduleId}: the run started at ${event.since} never finished (its process stopped); recorded as failed`;
      case 'retention-applied':
        return event.removed.length === 0
          ? `schedule ${event.scheduleId} retention: nothing to remove`
          : `schedule ${event.scheduleId} retention: removed ${plural(event.removed.length, 'backup')} (${event.removed.join(', ')})`;
      case 'retention-failed':
        return `schedule ${event.scheduleId} retention failed: ${event.error}`;
      case 'store-error':
        return `cannot read the schedules: ${event.error}; trying again in ${formatDuration(event.retryInMs)}`;
      case 'stopping':
        return event.running.length === 0
          ? 'stopping'
          : `stopping: no new runs; waiting up to ${formatDuration(event.graceMs)} for ${event.running.join(', ')} to finish`;
      case 'run-aborting':
        return `schedule ${event.scheduleId} still running after ${formatDuration(event.afterMs)}: aborting it`;
      case 'run-abandoned':
        return `schedule ${event.scheduleId} did not stop within ${formatDuration(event.afterMs)} of the abort; recorded as failed`;
      case 'stopped':
        return 'daemon stopped';
    }
  })();
  return `${event.at.toISOString()} ${body}`;
}
