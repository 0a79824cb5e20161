import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import {
  EventCatalog,
  type ValidationFailure,
  isValidEventTypePattern,
  matchesEventType,
} from '../../src/ingest/catalog/catalog';
import { EVENT_TYPES, type EventTypeDefinition } from '../../src/ingest/catalog/types';

/** DESIGN.md, "Event catalog", copied by hand so that a type dropped from the code fails here. */
const DESIGN_TYPES: Readonly<Record<string, readonly string[]>> = {
  user: [
    'user.created',
    'user.login',
    'user.login_failed',
    'user.logout',
    'user.password_changed',
    'user.email_changed',
    'user.profile_updated',
    'user.deleted',
  ],
  mfa: ['mfa.enabled', 'mfa.disabled', 'mfa.passkey_registered', 'mfa.challenge_failed'],
  security: [
    'security.breach_attempt_detected',
    'security.account_locked',
    'security.suspicious_login',
    'security.password_breach_detected',
  ],
  sso: ['sso.authentication_completed', 'sso.provider_linked', 'sso.provider_unlinked'],
  organization: [
    'organization.user_added',
    'organization.user_removed',
    'organization.role_changed',
  ],
  session: ['session.created', 'session.terminated', 'session.concurrent_limit_reached'],
  oauth: ['oauth.client_registered', 'oauth.token_issued', 'oauth.token_revoked'],
};
const PUBLIC_TYPES = Object.values(DESIGN_TYPES).flat();

// mocha runs from the repository root, both for dist/ and for ad-hoc builds elsewhere.
const samples = JSON.parse(
  readFileSync(path.join(process.cwd(), 'test/fixtures/event-samples.json'), 'utf8'),
) as Record<string, Record<string, unknown>>;

function sample(type: string, changes: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...structuredClone(samples[type]), ...changes };
}

function without(type: string, field: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(sample(type)).filter(([key]) => key !== field));
}

function requiredOf(definition: EventTypeDefinition): string[] {
  return (definition.schema.required as string[] | undefined) ?? [];
}

describe('event catalog', () => {
  const catalog = new EventCatalog();

  /** Validates the type's fixture sample with some fields replaced. */
  function check(type: string, changes: Record<string, unknown>): ValidationFailure | undefined {
    return catalog.validate(type, sample(type, changes));
  }

  describe('contents', () => {
    it('lists the DESIGN.md types in table order, then webhook.test', () => {
      expect(catalog.list().map((t) => t.name)).to.deep.equal([...PUBLIC_TYPES, 'webhook.test']);
      expect(EVENT_TYPES).to.have.lengthOf(29);
    });

    for (const [category, names] of Object.entries(DESIGN_TYPES)) {
      it(`puts every ${category} type in category "${category}" and accepts it`, () => {
        for (const name of names) {
          expect(catalog.get(name)?.category, name).to.equal(category);
          expect(catalog.has(name), name).to.equal(true);
        }
      });
    }

    it('has webhook.test as an internal type, known but not publishable', () => {
      expect(catalog.get('webhook.test')).to.include({ category: 'webhook', internal: true });
      expect(catalog.has('webhook.test')).to.equal(false);
      const internal = EVENT_TYPES.filter((t) => t.internal).map((t) => t.name);
      expect(internal).to.deep.equal(['webhook.test']);
    });

    it('does not know made-up types', () => {
      expect(catalog.has('user.teleported')).to.equal(false);
      expect(catalog.get('user.teleported')).to.equal(undefined);
      expect(catalog.has('')).to.equal(false);
    });

    it('describes every type in one sentence', () => {
      for (const t of EVENT_TYPES) {
        expect(t.description, t.name).to.match(/^[A-Z][^.]*(\.[^ .][^.]*)*\.$/);
      }
    });

    it('gives every type an open object schema whose required fields are declared', () => {
      for (const t of EVENT_TYPES) {
        expect(t.schema, t.name).to.include({ type: 'object', additionalProperties: true });
        const properties = Object.keys((t.schema.properties as object | undefined) ?? {});
        expect(properties, t.name).to.include.members(requiredOf(t));
      }
    });

    it('is frozen, so no consumer can change a schema that ajv compiled', () => {
      const schema = EVENT_TYPES[0].schema as { required: string[] };
      expect(Object.isFrozen(EVENT_TYPES)).to.equal(true);
      expect(() => schema.required.push('x')).to.throw(TypeError);
    });
  });

  describe('schemas', () => {
    it('compile with the draft 2020-12 validator too (ListEventTypes advertises 2020-12)', () => {
      const ajv = new Ajv2020({ strict: true });
      addFormats(ajv);
      for (const t of EVENT_TYPES) {
        expect(() => ajv.compile(t.schema), t.name).not.to.throw();
      }
    });

    it('refuses a schema with a typo at construction', () => {
      const schema = { type: 'object', requried: [] };
      const broken = { name: 'x.y', category: 'x', description: 'X.', schema };
      expect(() => new EventCatalog([broken])).to.throw(/requried/);
    });

    it('refuses a duplicate type at construction', () => {
      const twice = [EVENT_TYPES[0], EVENT_TYPES[0]];
      expect(() => new EventCatalog(twice)).to.throw(/duplicate event type "user.created"/);
    });
  });

  describe('fixture samples', () => {
    it('cover exactly the publishable types', () => {
      expect(Object.keys(samples).sort()).to.deep.equal([...PUBLIC_TYPES].sort());
    });

    for (const type of PUBLIC_TYPES) {
      it(`accepts the ${type} sample, and refuses it without each required field`, () => {
        expect(catalog.validate(type, sample(type))).to.equal(undefined);
        const required = requiredOf(catalog.get(type) as EventTypeDefinition);
        expect(required.length, type).to.be.above(0);
        for (const field of required) {
          expect(catalog.validate(type, without(type, field))).to.deep.equal({
            field: `data.${field}`,
            message: 'is required',
          });
        }
      });
    }
  });

  describe('validate', () => {
    it('requires exactly the documented fields of some types', () => {
      const required = (type: string): string[] =>
        requiredOf(catalog.get(type) as EventTypeDefinition);
      expect(required('user.login')).to.deep.equal(['user_id']);
      expect(required('user.login_failed')).to.deep.equal(['reason']);
      expect(required('organization.role_changed')).to.deep.equal(['user_id', 'new_role']);
      expect(required('session.terminated')).to.deep.equal(['session_id']);
      expect(required('oauth.token_issued')).to.deep.equal(['client_id']);
      expect(required('security.account_locked')).to.include('severity');
    });

    it('allows fields the catalog does not know yet', () => {
      expect(check('user.login', { risk: { level: 3 } })).to.equal(undefined);
    });

    it('names the field and the format that an email breaks', () => {
      expect(check('user.login', { email: 'not-an-email' })).to.deep.equal({
        field: 'data.email',
        message: 'must match format "email"',
      });
    });

    it('accepts IPv4 and IPv6 addresses and explains a bad one', () => {
      for (const ip of ['192.0.2.1', '2001:db8::8a2e:370:7334', '::1']) {
        expect(check('user.login', { ip_address: ip }), ip).to.equal(undefined);
      }
      expect(check('user.login', { ip_address: '300.1.2.3' })).to.deep.equal({
        field: 'data.ip_address',
        message: 'must match format "ipv4" or "ipv6"',
      });
    });

    it('reports enums, types, lengths and dates by path', () => {
      const ENUM = 'must be equal to one of the allowed values';
      const DATE_TIME = 'must match format "date-time"';
      const cases: Array<[string, Record<string, unknown>, string, string]> = [
        ['user.login', { auth_method: 'carrier_pigeon' }, 'data.auth_method', ENUM],
        ['user.login', { user_id: 42 }, 'data.user_id', 'must be string'],
        ['user.login', { user_id: '' }, 'data.user_id', 'must NOT have fewer than 1 characters'],
        [
          'user.login',
          { user_agent: 'a'.repeat(2049) },
          'data.user_agent',
          'must NOT have more than 2048 characters',
        ],
        ['session.created', { expires_at: 'soon' }, 'data.expires_at', DATE_TIME],
        ['user.login_failed', { failed_attempts: 1.5 }, 'data.failed_attempts', 'must be integer'],
        ['security.suspicious_login', { severity: 'apocalyptic' }, 'data.severity', ENUM],
      ];
      for (const [type, changes, field, message] of cases) {
        expect(check(type, changes), field).to.deep.equal({ field, message });
      }
    });

    it('formats nested paths with dots and array indexes', () => {
      const nested: Array<[string, Record<string, unknown>, string]> = [
        ['user.profile_updated', { changed_fields: ['first_name', 7] }, 'data.changed_fields[1]'],
        ['security.suspicious_login', { location: { country: 'gb' } }, 'data.location.country'],
        ['oauth.client_registered', { redirect_uris: ['not a uri'] }, 'data.redirect_uris[0]'],
        ['mfa.passkey_registered', { transports: ['usb', 'carrier_pigeon'] }, 'data.transports[1]'],
      ];
      for (const [type, changes, field] of nested) {
        expect(check(type, changes)?.field).to.equal(field);
      }
    });

    it('says "data" when the data is not an object', () => {
      for (const data of [null, 'user', 42, ['user_id'], undefined]) {
        expect(catalog.validate('user.login', data), String(data)).to.deep.equal({
          field: 'data',
          message: 'must be object',
        });
      }
    });

    it('never repeats the offending value', () => {
      const secret = 'PII-4f9c at example.com'; // valid in no field below
      const bad = [
        { email: secret },
        { username: secret.repeat(30) },
        { auth_method: secret },
        { ip_address: secret },
      ];
      for (const changes of bad) {
        const failure = check('user.login', changes);
        expect(failure, JSON.stringify(changes)).not.to.equal(undefined);
        expect(JSON.stringify(failure)).not.to.include('PII-4f9c');
      }
    });

    it('refuses an unknown type on the field "type"', () => {
      expect(catalog.validate('user.teleported', {})).to.deep.equal({
        field: 'type',
        message: 'unknown event type "user.teleported"',
      });
      expect(catalog.validate('x'.repeat(5000), {})?.message).to.have.length.below(200);
    });

    it('refuses to validate webhook.test for publishing', () => {
      expect(catalog.validate('webhook.test', {})?.field).to.equal('type');
    });
  });

  describe('matchesEventType', () => {
    const cases: Array<[string, string, boolean]> = [
      ['user.login', 'user.login', true],
      ['user.login', 'user.logout', false],
      ['user.*', 'user.login_failed', true],
      ['user.*', 'session.created', false],
      ['security.*', 'security.account_locked', true],
      ['sso.*', 'session.created', false],
      ['org.*', 'organization.user_added', false],
      ['organization.*', 'organization.user_added', true],
      ['*', 'oauth.token_issued', true],
      ['user.log*', 'user.login', false],
      ['user', 'user.login', false],
    ];
    for (const [pattern, type, expected] of cases) {
      it(`${pattern} ${expected ? 'matches' : 'does not match'} ${type}`, () => {
        expect(matchesEventType(pattern, type)).to.equal(expected);
      });
    }
  });

  describe('isValidEventTypePattern', () => {
    const cases: Array<[string, boolean]> = [
      ['*', true],
      ['user.login', true],
      ['organization.role_changed', true],
      ['security.*', true],
      ['oauth.*', true],
      ['user.teleported', false],
      ['nope.*', false],
      ['webhook.test', false],
      ['webhook.*', false],
      ['user.*.*', false],
      ['user', false],
      ['', false],
      ['**', false],
    ];
    for (const [pattern, expected] of cases) {
      it(`${expected ? 'accepts' : 'refuses'} "${pattern}"`, () => {
        expect(isValidEventTypePattern(pattern, catalog)).to.equal(expected);
      });
    }
  });
});
