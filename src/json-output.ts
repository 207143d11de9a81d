/**
 * JSON as `--json` prints it. A long array has one item per line and is made a piece at a time: 10,000 index records
 * are 8 MB of JSON, which as one string and then one buffer was 16 MB of fresh memory, slow to touch on this machine
 * (docs/performance.md). metadata.json keeps its records in this same layout, so that `list` can copy them
 * (src/metadata/listing.ts).
 */
import type { Writable } from 'node:stream';

export const ARRAY_OPEN = '[\n';
export const ITEM_SEPARATOR = ',\n';
export const ARRAY_CLOSE = '\n]\n';
export const EMPTY_ARRAY = '[]\n';

/** Characters gathered before each piece is handed out. */
const PIECE_CHARS = 64 * 1024;

/** The JSON of `items`, one per line, and a newline, in pieces of about 64 KiB. */
export function* jsonArrayPieces(items: readonly unknown[]): Generator<string> {
  if (items.length === 0) {
    yield EMPTY_ARRAY;
    return;
  }
  let piece = ARRAY_OPEN;
  for (let i = 0; i < items.length; i++) {
    piece += (i === 0 ? '' : ITEM_SEPARATOR) + (JSON.stringify(items[i]) ?? 'null');
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}${ARRAY_CLOSE}`;
}

/** Writes `chunk` and resolves once `out` is done with it, so that the caller may fill its buffer again. */
export function writeThrough(out: Writable, chunk: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve())));
}

export async function writeJsonArray(out: Writable, items: readonly unknown[]): Promise<void> {
  for (const piece of jsonArrayPieces(items)) await writeThrough(out, piece);
}
