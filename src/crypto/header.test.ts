import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AGE_MAGIC, detectAge, detectArmoredAge, inspectAgeHeader, scanAgeHeader } from './header.js';

const recipientsHeader = `${AGE_MAGIC}-> X25519 8hWaIUmk67JD7ksQyG8Z+2rF7hW9fJR2nxKpHgJgIWk\nYjF2vOxg0Nt4BTf4vpDCb2nD8zrsRjqcRgYhjqV0SnA\n-> X25519 8hWaIUmk67JD7ksQyG8Z+2rF7hW9fJR2nxKpHgJgIWk\nYjF2vOxg0Nt4BTf4vpDCb2nD8zrsRjqcRgYhjqV0SnA\n--- 6L3yAp2KB+XcvrRnNr7GpvAo0nK8vPEkqyfIb/A0xLw\n`;
const passphraseHeader = `${AGE_MAGIC}-> scrypt Zpqq4fEJzZVogVpGyyMFMQ 18\nqiYDTvSDZ2Gc3N/Qn/AH8WqiYDTvSDZ2Gc3N/Qn/AH8\n--- 6L3yAp2KB+XcvrRnNr7GpvAo0nK8vPEkqyfIb/A0xLw\n`;

describe('detectAge', () => {
  it('recognises the binary format by its first line', () => {
    expect(detectAge(Buffer.from(recipientsHeader))).toBe(true);
    expect(detectAge(Buffer.from(AGE_MAGIC))).toBe(true);
    expect(detectAge(Buffer.from(AGE_MAGIC.slice(0, 10)))).toBe(false);
    expect(detectAge(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe(false);
    expect(detectAge(new Uint8Array(0))).toBe(false);
    expect(detectArmoredAge(Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n'))).toBe(true);
  });

  it('works on a view into a larger buffer', () => {
    const big = Buffer.concat([Buffer.from('xx'), Buffer.from(recipientsHeader)]);
    expect(detectAge(big.subarray(2))).toBe(true);
    expect(inspectAgeHeader(big.subarray(2))?.length).toBe(recipientsHeader.length);
  });
});

describe('scanAgeHeader', () => {
  it('describes a recipients header and a passphrase header', () => {
    expect(inspectAgeHeader(Buffer.from(recipientsHeader + 'binary'))).toEqual({
      length: recipientsHeader.length,
      stanzaTypes: ['X25519', 'X25519'],
      mode: 'recipients',
    });
    expect(inspectAgeHeader(Buffer.from(passphraseHeader))).toEqual({
      length: passphraseHeader.length,
      stanzaTypes: ['scrypt'],
      mode: 'passphrase',
      workFactor: 18,
    });
    expect(inspectAgeHeader(Buffer.from(`${AGE_MAGIC}-> ssh-ed25519 abc def\nxyz\n--- mac\n`))?.mode).toBe('other');
  });

  it('says incomplete for every prefix of a header, and not-age as soon as the bytes differ', () => {
    for (let n = 0; n < recipientsHeader.length; n++) {
      expect(scanAgeHeader(Buffer.from(recipientsHeader.slice(0, n))).state).toBe('incomplete');
    }
    expect(scanAgeHeader(Buffer.from('age-encryption.org/v2\n')).state).toBe('not-age');
    expect(scanAgeHeader(Buffer.from('x')).state).toBe('not-age');
  });

  it('gives up on a header that never ends', () => {
    const endless = Buffer.concat([Buffer.from(AGE_MAGIC), Buffer.alloc(2 << 20, 'a')]);
    expect(scanAgeHeader(endless)).toEqual({ state: 'incomplete', tooLong: true });
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.concat([Buffer.from(AGE_MAGIC), randomBytes(i * 7)]);
      expect(() => scanAgeHeader(bytes)).not.toThrow();
    }
  });
});
