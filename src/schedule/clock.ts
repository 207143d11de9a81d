/**
 * The scheduler's sense of time, injected so tests can drive it: `systemClock` for real use, `ManualClock` for tests
 * (time moves only when the test says so).
 *
 * Only schedule time goes through the clock (when a slot comes, how long a run took, the stop grace period). Lock
 * timing stays real: other processes share it.
 */

export interface Clock {
  now(): Date;
  /** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Node's timers hold at most 2^31-1 ms (24.8 days); longer sleeps are taken in steps. */
const MAX_TIMER_MS = 2_147_483_647;

function sleepReal(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: async (ms, signal) => {
    const until = Date.now() + ms;
    do await sleepReal(until - Date.now(), signal);
    while (Date.now() < until && !signal?.aborted);
  },
};

interface Sleeper {
  until: number;
  wake: () => void;
}

/** A clock for tests: `now()` stands still until `advance` or `set`; sleepers wake when their time is reached. */
export class ManualClock implements Clock {
  #now: number;
  #sleepers = new Set<Sleeper>();

  constructor(start: Date | string) {
    this.#now = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  /** How many sleeps are pending: a test waits for the daemon to be asleep before moving time. */
  get sleepers(): number {
    return this.#sleepers.size;
  }

  /** When the earliest pending sleep ends, if any. */
  get nextWake(): Date | undefined {
    let earliest: number | undefined;
    for (const s of this.#sleepers) earliest = earliest === undefined ? s.until : Math.min(earliest, s.until);
    return earliest === undefined ? undefined : new Date(earliest);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      // Even a zero sleep yields to the event loop, so a loop that sleeps 0 cannot starve pending I/O.
      if (signal?.aborted) return void setImmediate(resolve);
      const sleeper: Sleeper = {
        until: this.#now + Math.max(0, ms),
        wake: () => {
          this.#sleepers.delete(sleeper);
          signal?.removeEventListener('abort', sleeper.wake);
          setImmediate(resolve);
        },
      };
      if (ms <= 0) return void setImmediate(resolve);
      this.#sleepers.add(sleeper);
      signal?.addEventListener('abort', sleeper.wake, { once: true });
    });
  }

  advance(ms: number): void {
    this.set(new Date(this.#now + ms));
  }

  set(date: Date | string): void {
    this.#now = new Date(date).getTime();
    for (const sleeper of [...this.#sleepers]) if (sleeper.until <= this.#now) sleeper.wake();
  }
}
