import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { keyIdOf, SecretBox } from '../../src/security/secret-box';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROW = 'tenant-a/wh_01';

/** Flips one bit of the base64url part at `index` of a sealed string. */
function tamper(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index], 'base64url');
  bytes[0] ^= 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('security/secret-box', () => {
  const key = randomBytes(32);
  const box = new SecretBox([key]);

  it('round-trips a secret', () => {
    expect(box.open(box.seal(SECRET, ROW), ROW)).to.equal(SECRET);
  });

  it('round-trips an empty and a non-ASCII plaintext', () => {
    for (const plaintext of ['', 'ключ ✓ 🔑']) {
      expect(box.open(box.seal(plaintext, ROW), ROW)).to.equal(plaintext);
    }
  });

  it('produces the compact v1 form with the key id of the first key', () => {
    const sealed = box.seal(SECRET, ROW);
    expect(sealed).to.match(/^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(sealed.split('.')[1]).to.equal(keyIdOf(key));
  });

  it('uses a fresh IV for each seal', () => {
    expect(box.seal(SECRET, ROW)).to.not.equal(box.seal(SECRET, ROW));
  });

  it('does not contain the plaintext or its base64', () => {
    const sealed = box.seal(SECRET, ROW);
    const body = SECRET.slice('whsec_'.length);
    for (const leak of [SECRET, body, Buffer.from(SECRET).toString('base64'),
      Buffer.from(SECRET).toString('base64url')]) {
      expect(sealed).to.not.include(leak);
    }
  });

  it('fails to open with different associated data', () => {
    const sealed = box.seal(SECRET, ROW);
    expect(() => box.open(sealed, 'tenant-b/wh_01')).to.throw(/failed authentication/);
  });

  for (const [index, part] of [[2, 'iv'], [3, 'ciphertext'], [4, 'tag']] as const) {
    it(`fails to open when the ${part} is tampered with`, () => {
      const sealed = tamper(box.seal(SECRET, ROW), index);
      expect(() => box.open(sealed, ROW)).to.throw(/failed authentication/);
    });
  }

  it('opens what an old key sealed after a rotation to [newKey, oldKey]', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const sealedByOld = new SecretBox([oldKey]).seal(SECRET, ROW);
    const rotated = new SecretBox([newKey, oldKey]);
    expect(rotated.open(sealedByOld, ROW)).to.equal(SECRET);
    expect(rotated.seal(SECRET, ROW).split('.')[1]).to.equal(keyIdOf(newKey));
  });

  it('tells a secret sealed under the sealing key from one sealed under an older key', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const rotated = new SecretBox([newKey, oldKey]);
    expect(rotated.isCurrent(rotated.seal(SECRET, ROW))).to.equal(true);
    expect(rotated.isCurrent(new SecretBox([oldKey]).seal(SECRET, ROW))).to.equal(false);
    expect(() => rotated.isCurrent('not sealed')).to.throw(/malformed/);
  });

  it('cannot open what an old key sealed once that key is dropped', () => {
    const oldKey = randomBytes(32);
    const sealedByOld = new SecretBox([oldKey]).seal(SECRET, ROW);
    expect(() => new SecretBox([randomBytes(32)]).open(sealedByOld, ROW)).to.throw(
      /unknown encryption key id/,
    );
  });

  it('rejects keys that are not 32 bytes, and an empty key list', () => {
    expect(() => new SecretBox([randomBytes(16)])).to.throw(/32 bytes/);
    expect(() => new SecretBox([randomBytes(32), randomBytes(33)])).to.throw(/#2 must be 32 bytes/);
    expect(() => new SecretBox([])).to.throw(/at least one key/);
  });

  const malformed: Array<[string, (s: string) => string]> = [
    ['empty input', () => ''],
    ['a plaintext secret', () => SECRET],
    ['too few parts', (s) => s.split('.').slice(0, 4).join('.')],
    ['an unknown version', (s) => s.replace(/^v1\./, 'v9.')],
    ['a bad key id', (s) => s.replace(/^v1\.[0-9a-f]{8}/, 'v1.ZZZZZZZZ')],
    ['a non-base64url iv', (s) => s.replace(/^(v1\.[0-9a-f]{8}\.)[^.]+/, '$1!!!!!!!!!!!!!!!!')],
    ['a short tag', (s) => s.replace(/\.[^.]+$/, '.AAAA')],
  ];
  for (const [what, mangle] of malformed) {
    it(`rejects ${what} with a message that leaks no secret`, () => {
      let message = '';
      try {
        box.open(mangle(box.seal(SECRET, ROW)), ROW);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).to.match(/^sealed secret /);
      expect(message).to.not.include('MfKQ9r8G');
    });
  }
});
