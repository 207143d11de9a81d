/**
 * The progress bar on stderr: bytes, files, rate and ETA. Drawn only on a terminal (cli-progress prints a wrong final
 * frame otherwise), and cleared when the operation ends so the summary stands alone.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../backup/progress.js';
import { formatBytes, formatDuration } from './format.js';

export interface ProgressView {
  update(event: ProgressEvent): void;
  /** Hides the bar so a warning line can be printed cleanly; it comes back on the next update. */
  interrupt(): void;
  stop(): void;
}

export function createProgress(stream: Writable, label: string): ProgressView {
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: stream,
      format: `${label} {bar} {percentage}% | {done} / {total} | {files} files | {rate} | ETA {eta_text}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 8,
    },
    cliProgress.Presets.shades_classic,
  );
  let active = false;
  return {
    update(event) {
      const total = event.totalBytes ?? 0;
      const elapsed = Date.now() - started;
      const rate = elapsed > 0 ? (event.bytes * 1000) / elapsed : 0;
      const eta = rate > 0 && total > event.bytes ? ((total - event.bytes) / rate) * 1000 : 0;
      const payload = {
        done: formatBytes(event.bytes),
        total: total > 0 ? formatBytes(total) : '?',
        files: event.files,
        rate: `${formatBytes(rate)}/s`,
        eta_text: eta > 0 ? formatDuration(eta) : '-',
      };
      if (!active) {
        bar.start(Math.max(total, 1), event.bytes, payload);
        active = true;
      } else {
        bar.setTotal(Math.max(total, 1));
        bar.update(event.bytes, payload);
      }
    },
    interrupt() {
      if (active) {
        bar.stop();
        active = false;
      }
    },
    stop() {
      if (active) bar.stop();
      active = false;
    },
  };
}
