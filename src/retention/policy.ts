/**
 * Retention: which backups `cleanup` (and a schedule, after each run) removes, and why. One pure function over the
 * index records, with `now` as an argument: no I/O, no clock. `cleanup --dry-run` prints the plan; the real run
 * applies the same plan.
 *
 * How it works (restic's snapshot_policy.go is the model):
 *
 *   order the backups newest first: by createdAt, then by id (of two backups made in the same millisecond, the
 *   larger id is the newer)
 *   the rules: remove a backup that is not among the `keep` newest, or that was created more than `days` days
 *   (of 24 hours) before `now`; keep the others
 *   the exceptions, which override the rules and only ever keep:
 *     1. for each scope, the newest restorable backup (every ancestor via `parent` is in the index) is kept, so a
 *        policy can never leave the platform with no way back (see "scope" below)
 *     2. every backup that a kept backup builds on (its parent, transitively up to the full base) is kept, so no
 *        kept incremental ever loses its base; this runs last, over everything kept, including by exception 1
 *     3. a backup whose createdAt cannot be read as an ISO 8601 instant is kept: it cannot be dated or ranked
 *   every decision carries short human reasons: the rules it passed (kept) or failed (removed), then notes (safety
 *   backup, chain broken, dated in the future) and the exceptions that kept it
 *
 * Scope. A backup's scope is what restoring it brings back: its services (sorted) and its parts (config, volumes,
 * logs, platform.yaml). Its type is not part of it: a full backup and the incrementals built on it restore the same
 * scope, so the newest restorable of a scope may be an incremental tip, kept with its whole chain. Why per scope
 * rather than "the newest restorable backup" alone: a nightly service backup of `git` must not turn the last full
 * backup into the only thing standing between `filesystem` and nothing, and then remove it. Why not a finer rule
 * ("for each service and part, the newest backup that holds it"): such a rule keeps a subset of what the per-scope
 * rule keeps (the newest backup holding a part is always the newest of its own scope), so per scope is never less
 * safe; its cost is that the last backup of a scope no longer taken (say a one-off `git` service backup, later
 * covered by full backups) stays until it is deleted by hand (`mcp backup delete`). One kept backup too many is
 * cheap; a coverage mistake is data loss.
 *
 * A backup with a broken chain (an ancestor missing from the index, a parent loop, an incremental with no parent)
 * cannot be restored: it is never picked by exception 1 and is removed by the rules like any other; its reasons say
 * "chain broken". Its present ancestors are still kept while it is kept (exception 2).
 *
 * Safety backups (taken by restore before it overwrote things) follow the same rules and exceptions; their first
 * reason says which restore they were taken before.
 *
 * Clocks. A backup dated after `now` (its clock, or this one, is wrong) is never removed for age. It still counts,
 * but apart: backups dated in the future are ranked among themselves, and backups whose time has passed among
 * themselves, so a week of backups stamped 2030 by a bad clock cannot push the real newest backups out of the
 * `keep` newest (at most `keep` of each are kept by count). If a scope's newest restorable backup is dated in the
 * future, the newest restorable one whose time has passed is kept too: whichever clock was wrong, a true newest
 * state survives. If `now` itself jumped forward, age removes everything but the exceptions: one way back per scope
 * remains.
 *
 * Schedules. A schedule's retention must be given only that schedule's backups (the caller filters the index by
 * `origin.scheduleId`), so one schedule's `keep` never removes another's or a manual backup. Pass the rest of the
 * index as `options.others`: those backups are never planned, but chains are followed through them (a scheduled
 * incremental whose base is a manual full is still restorable) and a backup of the schedule that one of them
 * builds on is kept (a manual incremental made on top of a scheduled full keeps that full). Without `others`, those
 * chains look broken and such a full may be removed.
 */

import { BackupError } from '../errors.js';
import type { BackupRecord } from '../metadata/record.js';

/** What retention reads from an index record. */
export type RetentionBackup = Pick<BackupRecord, 'id' | 'type' | 'createdAt' | 'services' | 'parts' | 'parent' | 'origin'>;

export interface RetentionPolicy {
  /** Keep the `keep` newest backups (a count of backups, not of days); 0 keeps none by count. A whole number. */
  keep: number;
  /** Remove backups created more than `days` days (of 24 hours) before now; 0 removes all older than now. A whole number. */
  days: number;
}

/** The user's document: "Keep last 10 backups by default; remove backups older than 30 days". */
export const DEFAULT_RETENTION: RetentionPolicy = Object.freeze({ keep: 10, days: 30 });

export interface RetentionDecision {
  id: string;
  action: 'keep' | 'remove';
  /** Why, for people: never empty. */
  reasons: string[];
}

export interface RetentionPlan {
  /** One per backup given, newest first (backups with an unreadable createdAt last, by id). */
  decisions: RetentionDecision[];
  /** Ids kept and removed, in the order of `decisions`. */
  keep: string[];
  remove: string[];
}

export interface RetentionOptions {
  /**
   * The rest of the index when `backups` is a subset (one schedule's backups): never planned, but chains are
   * followed through them, and what they build on is kept.
   */
  others?: readonly RetentionBackup[];
}

const DAY_MS = 86_400_000;

/**
 * Plans which backups to keep and remove under `policy` at time `now`. Throws a BackupError: USAGE for a policy that
 * is not two whole numbers >= 0 or an invalid `now`; INDEX_CORRUPT when an id appears twice.
 */
export function planRetention(
  backups: readonly RetentionBackup[],
  policy: RetentionPolicy,
  now: Date,
  options: RetentionOptions = {},
): RetentionPlan {
  checkPolicy(policy);
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new BackupError('USAGE', 'Retention needs a valid current time.');
  const others = options.others ?? [];
  const byId = indexById(backups, others);
  const planned = new Set(backups.map((b) => b.id));

  const entries: Entry[] = backups.map((b) => {
    const time = parseInstant(b.createdAt);
    return {
      b,
      time,
      future: time !== undefined && time > nowMs,
      chainProblem: chainProblem(b, byId),
      rules: [],
      keptByRules: false,
      exceptions: [],
    };
  });
  const dated = entries.filter((e) => e.time !== undefined).sort(newestFirst);
  const undated = entries.filter((e) => e.time === undefined).sort((x, y) => compareIds(y.b.id, x.b.id));
  const ordered = [...dated, ...undated];
  const byEntry = new Map(ordered.map((e) => [e.b.id, e]));

  // The rules.
  const futureCount = dated.filter((e) => e.future).length;
  const cutoff = nowMs - policy.days * DAY_MS;
  let futureRank = 0;
  let pastRank = 0;
  for (const e of dated) {
    const rank = e.future ? futureRank++ : pastRank++;
    const apart = !e.future && futureCount > 0 ? futureCount : 0;
    const newest = rank < policy.keep;
    const old = !e.future && (e.time ?? 0) < cutoff;
    const count = countReason(policy.keep, rank, newest, apart);
    const age = e.future ? undefined : ageReason(policy.days, old);
    e.keptByRules = newest && !old;
    e.rules = e.keptByRules ? [count, ...(age ? [age] : [])] : [...(newest ? [] : [count]), ...(old && age ? [age] : [])];
  }
  for (const e of undated) {
    e.exceptions.push(`created time "${e.b.createdAt}" is not an ISO 8601 instant: never removed by count or age`);
  }

  // Exception 1: the newest restorable backup of each scope (and the newest not dated in the future).
  const scopes = new Map<string, { newest?: Entry; newestPast?: Entry }>();
  for (const e of dated) {
    if (e.chainProblem !== undefined) continue;
    const { key, label } = scopeOf(e.b);
    const seen = scopes.get(key) ?? {};
    scopes.set(key, seen);
    if (seen.newest === undefined) {
      seen.newest = e;
      e.exceptions.push(`newest restorable backup of scope ${label}: never removed`);
    } else if (seen.newestPast === undefined && seen.newest.future && !e.future) {
      seen.newestPast = e;
      e.exceptions.push(`newest restorable backup of scope ${label} not dated in the future: never removed`);
    }
  }

  // Exception 2: everything a kept backup builds on, through backups outside the plan too.
  const kept = new Set<string>([
    ...ordered.filter((e) => e.keptByRules || e.exceptions.length > 0).map((e) => e.b.id),
    ...others.map((o) => o.id),
  ]);
  const pending = [...kept];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    const parent = byId.get(id)?.parent;
    if (parent !== undefined && byId.has(parent) && !kept.has(parent)) {
      kept.add(parent);
      pending.push(parent);
    }
  }
  const dependents = [...ordered.map((e) => e.b), ...[...others].sort((x, y) => compareIds(y.id, x.id))];
  for (const child of dependents) {
    const base = child.parent === undefined ? undefined : byEntry.get(child.parent);
    if (base === undefined || !kept.has(child.id) || child.parent === child.id) continue;
    base.exceptions.push(
      planned.has(child.id) ? `base of kept ${child.type} ${child.id}` : `base of ${child.type} ${child.id}, which is not in this plan`,
    );
  }

  const decisions = ordered.map((e): RetentionDecision => {
    const notes = [
      ...(e.b.origin.kind === 'safety' ? [`safety backup taken before restoring ${e.b.origin.restoreOf}`] : []),
      ...e.rules,
      ...(e.future ? [`dated in the future (${e.b.createdAt}, after now): never removed for age`] : []),
      ...(e.chainProblem === undefined ? [] : [e.chainProblem]),
      ...e.exceptions,
    ];
    return { id: e.b.id, action: kept.has(e.b.id) ? 'keep' : 'remove', reasons: notes };
  });
  return {
    decisions,
    keep: decisions.filter((d) => d.action === 'keep').map((d) => d.id),
    remove: decisions.filter((d) => d.action === 'remove').map((d) => d.id),
  };
}

interface Entry {
  b: RetentionBackup;
  /** Milliseconds since the epoch; undefined when createdAt is not an ISO 8601 instant. */
  time: number | undefined;
  future: boolean;
  chainProblem: string | undefined;
  /** The rules' reasons: those passed when kept by the rules, those failed otherwise. */
  rules: string[];
  keptByRules: boolean;
  /** Why an exception keeps it (and other notes that keep it). */
  exceptions: string[];
}

function checkPolicy(policy: RetentionPolicy): void {
  for (const name of ['keep', 'days'] as const) {
    const value = policy[name];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new BackupError('USAGE', `Retention ${name} must be a whole number, 0 or more (got ${String(value)}).`, {
        [name]: value,
      });
    }
  }
}

function indexById(backups: readonly RetentionBackup[], others: readonly RetentionBackup[]): Map<string, RetentionBackup> {
  const byId = new Map<string, RetentionBackup>();
  for (const b of [...backups, ...others]) {
    if (byId.has(b.id)) {
      throw new BackupError('INDEX_CORRUPT', `Backup id ${b.id} appears twice; retention will not guess which one is meant.`, {
        id: b.id,
      });
    }
    byId.set(b.id, b);
  }
  return byId;
}

/** Why b cannot be restored, or undefined when every ancestor is present and the chain ends on a non-incremental. */
export function chainProblem(b: RetentionBackup, byId: ReadonlyMap<string, RetentionBackup>): string | undefined {
  const seen = new Set([b.id]);
  for (let cur = b; ; ) {
    if (cur.parent === undefined) {
      if (cur.type !== 'incremental') return undefined;
      return cur === b ? 'chain broken: incremental with no parent' : `chain broken: incremental ${cur.id} has no parent`;
    }
    const parent = byId.get(cur.parent);
    if (parent === undefined) {
      return cur === b
        ? `chain broken: parent ${cur.parent} missing`
        : `chain broken: parent ${cur.parent} of ${cur.id} missing`;
    }
    if (seen.has(parent.id)) return `chain broken: parent loop through ${parent.id}`;
    seen.add(parent.id);
    cur = parent;
  }
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Milliseconds since the epoch of an ISO 8601 instant (with Z or an offset), or undefined. Stricter than Date.parse,
 * which reads a time without offset in the local zone (the plan would depend on TZ) and rolls 2026-02-30 over to
 * March.
 */
function parseInstant(text: string): number | undefined {
  const m = ISO_INSTANT.exec(text);
  if (!m) return undefined;
  const n = (group: number): number => Number(m[group] ?? 0);
  const calendar = new Date(Date.UTC(n(1), n(2) - 1, n(3)));
  const dayExists = calendar.getUTCMonth() === n(2) - 1 && calendar.getUTCDate() === n(3);
  if (!dayExists || n(4) > 23 || n(5) > 59 || n(6) > 59 || n(7) > 23 || n(8) > 59) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Plain code-unit order: the same on every machine and locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function newestFirst(x: Entry, y: Entry): number {
  return (y.time ?? 0) - (x.time ?? 0) || compareIds(y.b.id, x.b.id);
}

const PARTS = [
  ['config', 'config'],
  ['volumes', 'volumes'],
  ['logs', 'logs'],
  ['platformConfig', 'platform.yaml'],
] as const;

/** What restoring `b` brings back (its services and parts), as a key to group by and a label for people. */
export function scopeOf(b: Pick<RetentionBackup, 'services' | 'parts'>): { key: string; label: string } {
  const services = [...b.services].sort(compareIds);
  const parts = PARTS.filter(([flag]) => b.parts[flag]).map(([, name]) => name);
  const label = `${services.length > 0 ? services.join(',') : '(no services)'} (${parts.length > 0 ? parts.join('+') : 'no parts'})`;
  return { key: JSON.stringify([services, parts]), label };
}

function countReason(keep: number, rank: number, newest: boolean, apart: number): string {
  const notCounting = apart > 0 ? `not counting ${apart} dated in the future` : '';
  if (keep === 0) return 'keep is 0: none kept for being among the newest';
  if (newest) {
    const text = keep === 1 ? 'the newest' : `among the ${keep} newest`;
    return notCounting ? `${text} (${notCounting})` : text;
  }
  const position = `it is the ${ordinal(rank + 1)}${notCounting ? `, ${notCounting}` : ''}`;
  return `${keep === 1 ? 'not the newest' : `not among the ${keep} newest`} (${position})`;
}

function ageReason(days: number, old: boolean): string {
  if (days === 0) return old ? 'created before now (days is 0)' : 'created now (days is 0)';
  const span = days === 1 ? '1 day' : `${days} days`;
  return old ? `older than ${span}` : `younger than ${span}`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
