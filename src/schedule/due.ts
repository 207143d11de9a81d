/**
 * When a schedule runs: one pure function of the schedule and `now`, no I/O, no clock.
 *
 *   anchor = max(createdAt, coveredUntil), but never later than now (a clock set back must not stall a schedule)
 *   if the expression or timezone differs from the one coveredUntil was computed for  -> "changed": the caller
 *      records coveredUntil = now, so an edited schedule behaves as a new one and never fires at once
 *   slots  = the expression's run times in (anchor, now]
 *   none   -> "waiting" until the first slot after the anchor
 *   some   -> "due" for the latest of them, once; the earlier ones are reported as missed, not run
 *
 * So a new schedule's first run is its first slot after creation (never at once), a scheduler that was down for a
 * week runs each schedule once when it comes back, and a slot is never run twice: whoever handles a slot records it
 * in coveredUntil (under the store lock) before the backup starts.
 */
import { parseCron, type ParsedCron } from './cron.js';

export interface DueInput {
  expression: string;
  timezone: string;
  createdAt: string;
  state: { coveredUntil?: string; coveredFor?: string };
}

export interface DueOptions {
  /**
   * A slot this much older than `now` counts as missed (a catch-up run), not as a run on time. Default 60 s: the
   * daemon wakes at most a few seconds late.
   */
  lateAfterMs?: number;
  /** Stop counting missed slots here (an every-second schedule down for a month). Default 1000. */
  countLimit?: number;
}

export type DueDecision =
  | {
      status: 'waiting';
      /** The next slot, or null when the expression has no more. */
      nextRunAt: Date | null;
    }
  | {
      status: 'due';
      /** The slot to run now: the latest one at or before now. */
      slot: Date;
      /** Earlier slots since the anchor that will not run (0 when on time). */
      missedSlots: number;
      /** True when missedSlots reached countLimit (there were at least that many). */
      missedCapped: boolean;
      /** True when this is a catch-up: slots were missed, or the slot is older than lateAfterMs. */
      late: boolean;
      /** The slot after this one. */
      nextRunAt: Date | null;
    }
  | {
      status: 'changed';
      /** The first slot after now, which is when it runs once the change is recorded. */
      nextRunAt: Date | null;
    };

/** What the state's coveredUntil is tied to: an edit of either ends the old series of slots. */
export function scheduleFingerprint(schedule: { expression: string; timezone: string }): string {
  return `${schedule.expression.trim().replace(/\s+/g, ' ')} @ ${schedule.timezone}`;
}

function time(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Decides whether `schedule` is due at `now`. Throws CRON_INVALID if its expression is invalid (a hand-edited
 * schedules.json), USAGE for an unknown timezone.
 */
export function computeDue(schedule: DueInput, now: Date, options: DueOptions = {}, parsed?: ParsedCron): DueDecision {
  const cron = parsed ?? parseCron(schedule.expression, schedule.timezone);
  const lateAfterMs = options.lateAfterMs ?? 60_000;
  const countLimit = options.countLimit ?? 1000;
  const nowMs = now.getTime();

  const coveredFor = schedule.state.coveredFor;
  if (coveredFor !== undefined && coveredFor !== scheduleFingerprint(schedule)) {
    return { status: 'changed', nextRunAt: cron.next(now) };
  }

  const anchorMs = Math.min(
    nowMs,
    Math.max(time(schedule.createdAt) ?? nowMs, time(schedule.state.coveredUntil) ?? Number.NEGATIVE_INFINITY),
  );
  const first = cron.next(new Date(anchorMs));
  if (first === null || first.getTime() > nowMs) return { status: 'waiting', nextRunAt: first };

  const latest = cron.latestAtOrBefore(now);
  const slot = latest !== null && latest.getTime() > first.getTime() ? latest : first;
  let missedSlots = 0;
  let missedCapped = false;
  for (let cursor: Date | null = first; cursor !== null && cursor.getTime() < slot.getTime(); cursor = cron.next(cursor)) {
    if (missedSlots === countLimit) {
      missedCapped = true;
      break;
    }
    missedSlots++;
  }
  return {
    status: 'due',
    slot,
    missedSlots,
    missedCapped,
    late: missedSlots > 0 || nowMs - slot.getTime() > lateAfterMs,
    nextRunAt: cron.next(now),
  };
}
