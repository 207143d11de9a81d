/** Human formatting shared by the commands: sizes, durations, rates, times and plain tables. */

export { formatBytes, formatDuration } from '../units.js';
import { formatBytes } from '../units.js';

export function formatRate(bytes: number, ms: number): string {
  return ms > 0 ? `${formatBytes((bytes * 1000) / ms)}/s` : '-';
}

/** Local time, to the minute, and how long ago. */
export function formatWhen(iso: string, now = Date.now()): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  const local = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return `${local} (${formatAge(now - date.getTime())})`;
}

export function formatAge(ms: number): string {
  if (ms < 0) return 'in the future';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/** Control characters (but tab and newline), and the bidirectional overrides that can make text read backwards. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from an index, an archive or a file name, made safe to print: control characters (terminal escapes) are
 * shown as \xNN (\uNNNN), and newlines too unless `keepNewlines`, so a name can neither drive the terminal nor forge a
 * line of output.
 */
export function printable(text: string, keepNewlines = false): string {
  const shown = text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
  return keepNewlines ? shown : shown.replace(/\n/g, '\\n');
}

/**
 * A plain table: columns padded to their widest cell, no colours or borders, so it reads the same on a terminal, in
 * a pipe and in a log. Written by hand because cli-table3 took 18 s for the 10,000 rows `list` must print at once.
 */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((cell) => printable(String(cell))))];
  const widths = head.map(() => 0);
  for (const row of cells) row.forEach((cell, column) => (widths[column] = Math.max(widths[column]!, cell.length)));
  const last = head.length - 1;
  return cells.map((row) => row.map((cell, column) => (column === last ? cell : cell.padEnd(widths[column]! + 2))).join('').trimEnd()).join('\n');
}
