/**
 * Reads a manifest from a stream of its plain JSON, line by line as ManifestWriter lays it out (the header fields
 * and `"entries":[` on the first line, then one entry per line), so the document's text is never held whole: for
 * 77k entries it is 20 MB of JSON, and 40 MB once a string, which made an incremental's peak memory. A document of
 * another layout (manifests written whole, on one line) is parsed whole, as `parseManifest` does.
 */
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { BackupError } from '../errors.js';
import { parseManifest, type Manifest, type ManifestEntry } from './manifest.js';

const ENTRIES_OPEN = '"entries":[';

/**
 * The gunzip a manifest copy is read through. zlib's 16 KiB pieces made the 24 MB of a 77k-entry manifest 1,500 round
 * trips to the thread pool, each handing `readManifestStream` a piece to split: 130-240 ms of inflating alone, against
 * 50-120 ms in pieces of 256 KiB.
 */
export function manifestGunzip(): zlib.Gunzip {
  return zlib.createGunzip({ chunkSize: 256 << 10 });
}

/**
 * Hands a manifest read whole to `onEntry` as if it had streamed in: entry by entry, with the manifest's header, whose
 * `entries` are left empty (so the entries are not held twice).
 */
export function handEntries(manifest: Manifest, onEntry: (entry: ManifestEntry, manifest: Manifest) => void): void {
  const entries = manifest.entries;
  manifest.entries = [];
  for (const entry of entries) onEntry(entry, manifest);
}

/**
 * Parses the manifest streamed by `plain`; refuses more than `maxBytes` of it, and anything `parseManifest` would.
 * With `onEntry`, each entry is handed to it as it is read, with the manifest's header (its fields but `entries`, which
 * stays empty, so a fold can apply `deleted` first), and the manifest returned has no entries.
 */
export async function readManifestStream(
  plain: Readable,
  where: string,
  maxBytes: number,
  onEntry?: (entry: ManifestEntry, manifest: Manifest) => void,
): Promise<Manifest> {
  const bad = (why: string) => new BackupError('INTEGRITY', `${where} does not hold an mcp backup manifest (${why})`, { where });
  let header: Manifest | undefined;
  /** The document, once it showed not to be in the writer's layout. */
  let document: Buffer[] | undefined;
  /** The bytes of the line being read, from earlier chunks. */
  let pending: Buffer[] = [];
  let closed = false;
  let bytes = 0;

  const entryLine = (manifest: Manifest, text: string) => {
    // (An empty line stands between the header and the end of a manifest without entries.)
    if (text === '') return;
    if (closed) {
      if (text.trim() !== '') throw bad('text after its end');
      return;
    }
    if (text === ']}') {
      closed = true;
      return;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(text.endsWith(',') ? text.slice(0, -1) : text);
    } catch {
      throw bad('an entry is not JSON');
    }
    const e = entry as ManifestEntry | null;
    if (e === null || typeof e !== 'object' || typeof e.path !== 'string' || typeof e.type !== 'string') throw bad('an entry has the wrong shape');
    if (onEntry) onEntry(e, manifest);
    else manifest.entries.push(e);
  };
  const parseWhole = (data: Buffer) => {
    const manifest = parseManifest(data, where);
    if (onEntry) handEntries(manifest, onEntry);
    return manifest;
  };

  for await (const chunk of plain as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBytes) throw new BackupError('UNSAFE_ARCHIVE', `${where} is larger than the ${maxBytes} bytes allowed`, { where });
    if (document) {
      document.push(chunk);
      continue;
    }
    let start = 0;
    for (let end = chunk.indexOf(10); end >= 0; end = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, end);
      const lineBytes = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
      start = end + 1;
      if (header === undefined) {
        const text = lineBytes.toString('utf8');
        if (!text.endsWith(ENTRIES_OPEN)) {
          document = [...pending, chunk];
          break;
        }
        // The header, closed as a document without entries, is checked as any manifest is.
        header = parseManifest(`${text}]}`, where);
      } else {
        entryLine(header, lineBytes.toString('utf8'));
      }
      pending = [];
    }
    if (!document && start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (document) return parseWhole(Buffer.concat(document));
  if (header === undefined) return parseWhole(Buffer.concat(pending));
  if (pending.length > 0) entryLine(header, Buffer.concat(pending).toString('utf8'));
  if (!closed) throw bad('it ends before its last entry');
  return header;
}
