import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { decodeSecret, generateSecret, sign } from '../../src/security/signing';

interface Vector {
  secret: string;
  id: string;
  timestamp: number;
  body: string;
  signature: string;
}

const vectors = JSON.parse(
  readFileSync(path.join(process.cwd(), 'test/fixtures/standard-webhooks-vectors.json'), 'utf8'),
) as Vector[];

function headers(id: string, timestamp: number, signature: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  };
}

describe('security/signing', () => {
  describe('fixture vectors', () => {
    it('has the Standard Webhooks reference vector', () => {
      expect(vectors.map((v) => v.signature)).to.include(
        'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      );
    });

    for (const v of vectors) {
      it(`signs ${v.id} as the fixture says`, () => {
        expect(sign([decodeSecret(v.secret)], v.id, v.timestamp, v.body)).to.equal(v.signature);
      });
    }
  });

  describe('generateSecret / decodeSecret', () => {
    it('generates whsec_ secrets with 32 key bytes', () => {
      const secret = generateSecret();
      expect(secret).to.match(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(decodeSecret(secret)).to.have.length(32);
    });

    it('generates a different secret each time', () => {
      expect(generateSecret()).to.not.equal(generateSecret());
    });

    const malformed: Array<[string, string]> = [
      ['no prefix', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      ['empty key', 'whsec_'],
      ['invalid base64 characters', 'whsec_MfKQ9r8GKYqrTwjUPD8I!PZIo2LaLaSw'],
      ['bad padding', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS='],
      ['too short a key', 'whsec_' + Buffer.alloc(16, 7).toString('base64')],
    ];
    for (const [what, secret] of malformed) {
      it(`rejects a secret with ${what}, without echoing it`, () => {
        let message = '';
        try {
          decodeSecret(secret);
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message).to.not.equal('');
        expect(message).to.not.include('MfKQ9r8GKYqrTwjUPD8');
        expect(message).to.not.include('BwcHBwcH');
      });
    }
  });

  describe('interoperability with the standardwebhooks library', () => {
    const body = JSON.stringify({ id: 'evt_1', type: 'user.login', data: { ok: true } });
    const msgId = 'msg_2Y9zFQ1c';
    const now = () => Math.floor(Date.now() / 1000);

    it('verifies a fresh signature made by sign', () => {
      const secret = generateSecret();
      const ts = now();
      const signature = sign([decodeSecret(secret)], msgId, ts, body);
      expect(new Webhook(secret).verify(body, headers(msgId, ts, signature))).to.deep.equal(
        JSON.parse(body),
      );
    });

    it('puts one v1 entry per key and verifies with either secret', () => {
      const [newer, older] = [generateSecret(), generateSecret()];
      const ts = now();
      const signature = sign([decodeSecret(newer), decodeSecret(older)], msgId, ts, body);
      const entries = signature.split(' ');
      expect(entries).to.have.length(2);
      expect(entries.every((e) => e.startsWith('v1,'))).to.equal(true);
      for (const secret of [newer, older]) {
        expect(() => new Webhook(secret).verify(body, headers(msgId, ts, signature))).to.not.throw();
      }
    });

    it('fails verification for a tampered body', () => {
      const secret = generateSecret();
      const ts = now();
      const signature = sign([decodeSecret(secret)], msgId, ts, body);
      const tampered = body.replace('true', 'false');
      expect(() => new Webhook(secret).verify(tampered, headers(msgId, ts, signature))).to.throw();
    });

    it('fails verification with an unrelated secret', () => {
      const ts = now();
      const signature = sign([decodeSecret(generateSecret())], msgId, ts, body);
      expect(() =>
        new Webhook(generateSecret()).verify(body, headers(msgId, ts, signature)),
      ).to.throw();
    });
  });

  describe('argument checks', () => {
    it('refuses to sign without keys', () => {
      expect(() => sign([], 'msg', 1, '{}')).to.throw(/at least one signing key/);
    });

    it('refuses a non-integer timestamp', () => {
      expect(() => sign([Buffer.alloc(32)], 'msg', 1.5, '{}')).to.throw(/timestamp/);
    });
  });
});
