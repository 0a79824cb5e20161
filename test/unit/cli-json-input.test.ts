/**
 * The CLI's JSON input (src/cli/json-input.ts, json-hazards.ts): JSON.parse rounds an integer
 * beyond 2^53 to the nearest double, and a "__proto__" key is dropped by the protobuf encoder, so
 * `events publish` and `webhooks test --data` used to send other data than the operator wrote
 * without a word. Now both are usage errors naming the path, found in the source text.
 */
import { expect } from 'chai';
import { UsageError } from '../../src/cli/args';
import { parseEvents } from '../../src/cli/events';
import { findJsonHazard, pathText } from '../../src/cli/json-hazards';
import { parseJsonObject } from '../../src/cli/json-input';

function usageErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
}

const BEYOND = /is beyond ±\(2\^53-1\), the integers a JSON number carries exactly; send it as a string$/;

describe('CLI JSON input', () => {
  describe('integers beyond ±(2^53-1)', () => {
    it('refuses them in --data, naming the key', () => {
      const message = usageErrorOf(() => parseJsonObject('{"account_number":9007199254740993,"ext_id":12345678901234567890}', '--data'));
      expect(message).to.match(/^--data: account_number: 9007199254740993 /).and.match(BEYOND);
    });

    it('refuses them in a published event, naming the event and the path in it', () => {
      const event = (data: string) => `{"tenant_id":"t","type":"user.login","data":${data}}`;
      expect(usageErrorOf(() => parseEvents(event('{"user_id":"u","ext_id":12345678901234567890}'), 'f.json', undefined))).to.match(
        /^f\.json: data\.ext_id: 12345678901234567890 is beyond/,
      );
      const array = `[${event('{"user_id":"u"}')}, ${event('{"user_id":"u","ids":[1,-9007199254740993]}')}]`;
      expect(usageErrorOf(() => parseEvents(array, '-', undefined))).to.match(/^-: event 2: data\.ids\[1\]: -9007199254740993 is beyond/);
      const lines = `${event('{"user_id":"u"}')}\n${event('{"user_id":"u","n":{"a b":9007199254740992}}')}`;
      expect(usageErrorOf(() => parseEvents(lines, '-', undefined))).to.match(/^-: line 2: data\.n\["a b"\]: 9007199254740992 is beyond/);
    });

    it('accepts every integer a double holds exactly, and decimals and exponents as written', () => {
      const data = '{"max":9007199254740991,"min":-9007199254740991,"f":12345678901234567890.5,"e":1e300,"s":"12345678901234567890"}';
      expect(parseJsonObject(data, '--data')).to.deep.equal(JSON.parse(data));
      const events = parseEvents(`{"tenant_id":"t","type":"user.login","data":${data}}`, '-', undefined);
      expect(events[0]!.data).to.deep.equal(JSON.parse(data));
    });
  });

  describe('a "__proto__" key', () => {
    it('refuses it in --data and in an event, naming its path', () => {
      expect(usageErrorOf(() => parseJsonObject('{"a":{"__proto__":{"x":1}}}', '--data'))).to.equal('--data: a.__proto__: a key named "__proto__" is not accepted');
      const event = '{"tenant_id":"t","type":"user.login","data":{"user_id":"u","__proto__":{"x":1}}}';
      expect(usageErrorOf(() => parseEvents(event, '-', undefined))).to.equal('-: data.__proto__: a key named "__proto__" is not accepted');
    });

    it('accepts keys and strings that only look like it', () => {
      const data = '{"a\\"__proto__":"__proto__","__proto__x":"\\"__proto__\\":1"}';
      expect(parseJsonObject(data, '--data')).to.deep.equal(JSON.parse(data));
    });
  });

  describe('the scan', () => {
    it('follows keys and indexes through nesting, empty containers and escaped quotes', () => {
      const text = '[{}, [], {"a\\"b": [{}, [], "x", {"k": "v\\\\"}, {"deep": [0, 9007199254740993]}]}]';
      expect(JSON.parse(text)).to.be.an('array');
      const hazard = findJsonHazard(text);
      expect(hazard && pathText(hazard.path)).to.equal('[2]["a\\"b"][4].deep[1]');
    });
  });
});
