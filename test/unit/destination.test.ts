import { expect } from 'chai';
import {
  AllowedRanges,
  checkWebhookUrl,
  classifyAddress,
  isAllowedAddress,
} from '../../src/security/destination';

const none = AllowedRanges.parse('');

// Each URL must be refused; the second column is a fragment of the expected message.
const refused: Array<[string, string]> = [
  ['http://127.0.0.1/', 'loopback'],
  ['http://127.0.0.1:8080/hook', 'loopback'],
  ['http://127.1/', 'loopback'],
  ['http://2130706433/', 'loopback'],
  ['http://0x7f000001/', 'loopback'],
  ['http://0x7f.1/', 'loopback'],
  ['http://0177.0.0.1/', 'loopback'],
  ['http://%31%32%37.0.0.1/', 'loopback'],
  ['http://127.0.0.1./', 'loopback'],
  ['http://[::1]/', 'loopback'],
  ['http://[0:0:0:0:0:0:0:1]/', 'loopback'],
  ['http://[::ffff:127.0.0.1]/', 'loopback'],
  ['http://[::ffff:7f00:1]/', 'loopback'],
  ['http://[64:ff9b::7f00:1]/', 'loopback'],
  ['http://[2002:7f00:1::]/', 'loopback'],
  ['http://[::7f00:1]/', 'reserved'],
  ['http://10.0.0.1/', 'private'],
  ['http://012.0.0.1/', 'private'],
  ['http://172.16.5.4/', 'private'],
  ['http://192.168.1.1/', 'private'],
  ['http://3232235777/', 'private'],
  ['http://[::ffff:192.168.1.1]/', 'private'],
  ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
  ['http://[fe80::1]/', 'linkLocal'],
  ['http://[fd00::1]/', 'uniqueLocal'],
  ['http://[fc00::abcd]/', 'uniqueLocal'],
  ['http://100.64.0.1/', 'carrierGradeNat'],
  ['http://0.0.0.0/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://[::]/', 'unspecified'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://[ff02::1]/', 'multicast'],
  ['http://255.255.255.255/', 'broadcast'],
  ['http://240.0.0.1/', 'reserved'],
  ['http://192.0.2.10/', 'reserved'],
  ['http://localhost/', 'localhost'],
  ['http://localhost:3000/hook', 'localhost'],
  ['http://LOCALHOST./', 'localhost'],
  ['http://localhost../', 'localhost'],
  ['http://api.localhost/', 'localhost'],
  ['http://%6c%6fcalhost/', 'localhost'],
  ['http://ｌｏｃａｌｈｏｓｔ/', 'localhost'],
  ['http://intranet/', 'fully qualified'],
  ['http://intranet./', 'fully qualified'],
  ['ftp://example.com/', 'http or https'],
  ['javascript:alert(1)', 'http or https'],
  ['file:///etc/passwd', 'http or https'],
  ['gopher://example.com:70/', 'http or https'],
  ['http://user:pass@example.com/', 'credentials'],
  ['https://user@example.com/', 'credentials'],
  ['https://:pass@example.com/', 'credentials'],
  ['https://example.com/hook#frag', 'fragment'],
  ['https://example.com/hook#', 'fragment'],
  ['/relative/path', 'valid absolute URL'],
  ['example.com/hook', 'valid absolute URL'],
  ['http://1.2.3.4.5/', 'valid absolute URL'],
  ['', 'valid absolute URL'],
  [' https://example.com/', 'spaces or control characters'],
  ['https://exa\tmple.com/', 'spaces or control characters'],
  [`https://example.com/${'a'.repeat(2048)}`, 'at most 2048'],
];

const accepted = [
  'http://93.184.216.34/',
  'https://93.184.216.34:8443/hook',
  'http://8.8.8.8/',
  'https://example.com/hook',
  'http://hooks.example.org:8080/a?b=c',
  'https://example.com./trailing-dot',
  'https://[2606:2800:220:1:248:1893:25c8:1946]/hook',
  'https://[64:ff9b::5db8:d822]/nat64-to-public',
  'https://xn--bcher-kva.example/idn',
  'HTTPS://Example.COM/Hook',
];

describe('security/destination', () => {
  describe('checkWebhookUrl refuses', () => {
    for (const [url, why] of refused) {
      it(`${JSON.stringify(url.length > 80 ? `${url.slice(0, 40)}...` : url)} (${why})`, () => {
        expect(checkWebhookUrl(url, none)).to.be.a('string').that.includes(why);
      });
    }
  });

  describe('checkWebhookUrl accepts', () => {
    for (const url of accepted) {
      it(url, () => {
        expect(checkWebhookUrl(url, none)).to.equal(undefined);
      });
    }
  });

  describe('checkWebhookUrl with allowed ranges', () => {
    const allowed = AllowedRanges.parse('127.0.0.2/32');

    it('accepts an address inside an allowed range', () => {
      expect(checkWebhookUrl('http://127.0.0.2:1234/', allowed)).to.equal(undefined);
    });

    it('still refuses a private address outside the allowed ranges', () => {
      expect(checkWebhookUrl('http://127.0.0.1/', allowed)).to.include('loopback');
    });

    it('does not exempt localhost names, only addresses', () => {
      expect(checkWebhookUrl('http://localhost:1234/', allowed)).to.include('localhost');
    });

    it('honours a custom maximum length', () => {
      expect(checkWebhookUrl('https://example.com/abcdef', none, 20)).to.include('at most 20');
    });

    it('does not echo credentials in its message', () => {
      expect(checkWebhookUrl('http://admin:hunter2@example.com/', none)).to.not.include('hunter2');
    });
  });

  describe('classifyAddress', () => {
    const cases: Array<[string, string | undefined]> = [
      ['93.184.216.34', undefined],
      ['2606:4700::1111', undefined],
      ['127.0.0.1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:10.1.2.3', 'private'],
      ['64:ff9b::a00:1', 'private'],
      ['64:ff9b::808:808', undefined],
      ['64:ff9b:1::a00:1', 'rfc6052'],
      ['2002:c0a8:101::1', 'private'],
      ['2002:808:808::1', undefined],
      ['2001:0:4136:e378::1', 'teredo'],
      ['2001:db8::1', 'reserved'],
      ['fe80::1%eth0', 'linkLocal'],
      ['4000::1', 'reserved'],
      ['100.127.255.255', 'carrierGradeNat'],
      ['not-an-ip', 'invalid'],
      // Lenient spellings are refused here: the WHATWG URL parser normalises them before us.
      ['2130706433', 'invalid'],
      ['010.0.0.1', 'invalid'],
    ];
    for (const [address, reason] of cases) {
      it(`${address} -> ${String(reason)}`, () => {
        expect(classifyAddress(address)).to.equal(reason);
      });
    }
  });

  describe('AllowedRanges', () => {
    it('parses a trimmed, comma-separated list and matches addresses of both families', () => {
      const ranges = AllowedRanges.parse(' 127.0.0.2/32 , 10.0.0.0/8,::1/128, ');
      expect(ranges.size).to.equal(3);
      expect(ranges.contains('127.0.0.2')).to.equal(true);
      expect(ranges.contains('127.0.0.3')).to.equal(false);
      expect(ranges.contains('10.255.0.1')).to.equal(true);
      expect(ranges.contains('::1')).to.equal(true);
      expect(ranges.contains('::2')).to.equal(false);
    });

    it('treats an empty or blank list as no ranges', () => {
      expect(AllowedRanges.parse('').size).to.equal(0);
      expect(AllowedRanges.parse('  ').contains('127.0.0.1')).to.equal(false);
    });

    it('matches IPv4-mapped addresses and ranges as IPv4', () => {
      expect(AllowedRanges.parse('127.0.0.2/32').contains('::ffff:127.0.0.2')).to.equal(true);
      expect(AllowedRanges.parse('::ffff:10.0.0.0/104').contains('10.9.9.9')).to.equal(true);
    });

    it('accepts a bare address as a single host', () => {
      const ranges = AllowedRanges.parse('192.168.0.7');
      expect(ranges.contains('192.168.0.7')).to.equal(true);
      expect(ranges.contains('192.168.0.8')).to.equal(false);
    });

    for (const bad of ['nonsense', '10/8', '10.0.0.0/33', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
      it(`throws naming the bad entry ${JSON.stringify(bad)}`, () => {
        expect(() => AllowedRanges.parse(`127.0.0.2/32, ${bad}`)).to.throw(Error, `"${bad}"`);
      });
    }
  });

  describe('isAllowedAddress', () => {
    const allowed = AllowedRanges.parse('127.0.0.2/32, fd00::/8');

    it('allows public addresses and allowed private ones', () => {
      expect(isAllowedAddress('93.184.216.34', allowed)).to.equal(true);
      expect(isAllowedAddress('127.0.0.2', allowed)).to.equal(true);
      expect(isAllowedAddress('fd12::1', allowed)).to.equal(true);
    });

    it('refuses other private addresses and garbage', () => {
      expect(isAllowedAddress('127.0.0.1', allowed)).to.equal(false);
      expect(isAllowedAddress('169.254.169.254', allowed)).to.equal(false);
      expect(isAllowedAddress('', allowed)).to.equal(false);
    });
  });
});
