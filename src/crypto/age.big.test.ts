/**
 * Throughput of the age streams on 100 MiB, printed, never asserted (speed belongs to `npm run bench`); outside the
 * default suite:   MCP_BACKUP_BIG_TESTS=1 npx vitest run src/crypto/age.big.test.ts
 * (Flat memory on 200 MiB is checked in age.test.ts, in the default suite: it takes about a second.)
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { describe, it } from 'vitest';
import { createDecryptStream, createEncryptStream } from './age.js';

const MiB = 1 << 20;

function source(mebibytes: number, block: Buffer): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      this.push(sent++ < mebibytes ? Buffer.from(block) : null);
    },
  });
}

function sink(onChunk: (chunk: Buffer) => void = () => undefined): Writable {
  return new Writable({
    highWaterMark: MiB,
    write(chunk: Buffer, _encoding, callback) {
      onChunk(chunk);
      callback();
    },
  });
}

describe.skipIf(process.env.MCP_BACKUP_BIG_TESTS !== '1')('large streams', () => {
  it('throughput on 100 MiB (printed)', { timeout: 300_000 }, async () => {
    const identity = await generateIdentity();
    const recipient = await identityToRecipient(identity);
    const block = randomBytes(MiB);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-crypto-big-'));
    const file = path.join(dir, 'big.age');
    try {
      let start = performance.now();
      await pipeline(source(100, block), createEncryptStream({ mode: 'recipients', recipients: [recipient] }), sink());
      const encryptMs = performance.now() - start;
      await pipeline(source(100, block), createEncryptStream({ mode: 'recipients', recipients: [recipient] }), fs.createWriteStream(file));
      start = performance.now();
      await pipeline(fs.createReadStream(file, { highWaterMark: MiB }), createDecryptStream({ identities: [identity] }), sink());
      const decryptMs = performance.now() - start;
      start = performance.now();
      await pipeline(fs.createReadStream(file, { highWaterMark: MiB }), sink());
      const readMs = performance.now() - start;
      const rate = (ms: number) => (100 / (ms / 1000)).toFixed(0);
      console.log(`100 MiB: encrypt ${rate(encryptMs)} MiB/s (memory to memory), decrypt ${rate(decryptMs)} MiB/s (file to memory; reading alone ${rate(readMs)} MiB/s)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
