/**
 * Random bytes as hex, for names (backup ids, temp files), from the global Web Crypto: an import of node:crypto
 * would load that module at every start of the CLI, 7 ms of `list`, for the few commands that make a name.
 */
export function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
