/**
 * Shared JSON Schema fragments for event `data`. Every event schema is built from these, so a field
 * such as `ip_address` means and validates the same thing in every type: a receiver writes one
 * parser per field, not one per event type.
 *
 * The schemas use only keywords whose meaning is the same in draft-07 and draft 2020-12 (type,
 * properties, required, enum, format, anyOf, items, bounds) and carry no `$schema`, so they
 * validate identically with ajv's default class here and with any 2020-12 validator a receiver
 * picks (ListEventTypes advertises 2020-12).
 */

export type JsonSchema = Readonly<Record<string, unknown>>;
export type Properties = Readonly<Record<string, JsonSchema>>;

/** Identifiers of the core (user, session, client, ...): opaque, bounded so a row stays small. */
const ID_MAX = 256;

export function id(description: string): JsonSchema {
  return { type: 'string', minLength: 1, maxLength: ID_MAX, description };
}

export function text(maxLength: number, description: string): JsonSchema {
  return { type: 'string', maxLength, description };
}

export function oneOf(values: readonly string[], description: string): JsonSchema {
  return { type: 'string', enum: [...values], description };
}

export function count(description: string): JsonSchema {
  return { type: 'integer', minimum: 0, description };
}

export function flag(description: string): JsonSchema {
  return { type: 'boolean', description };
}

export function timestamp(description: string): JsonSchema {
  return { type: 'string', format: 'date-time', maxLength: 64, description };
}

/** A bounded list of short strings, e.g. changed field names or scopes. */
export function list(item: JsonSchema, maxItems: number, description: string): JsonSchema {
  return { type: 'array', items: item, maxItems, description };
}

/**
 * The schema of an event's `data`. Unknown fields are allowed on purpose: the core may add fields
 * before the catalog learns them, and refusing its events then would lose them.
 */
export function eventData(required: readonly string[], properties: Properties): JsonSchema {
  const schema: Record<string, unknown> = {
    type: 'object',
    additionalProperties: true,
    properties,
  };
  if (required.length > 0) schema.required = [...required];
  return schema;
}

export const userId = id('The id of the user the event is about.');
export const username = text(ID_MAX, "The user's login name.");
/** 320 is the longest address RFC 5321 allows (64 local part + @ + 255 domain). */
export const email: JsonSchema = {
  type: 'string',
  format: 'email',
  maxLength: 320,
  description: 'An email address.',
};
/** Longest textual IPv6 (with an embedded IPv4 tail) is 45 characters. */
export const ipAddress: JsonSchema = {
  type: 'string',
  maxLength: 45,
  anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }],
  description: 'The IPv4 or IPv6 address of the client.',
};
export const userAgent = text(2048, 'The User-Agent header of the client.');
export const sessionId = id('The id of the session.');
export const clientId = id('The OAuth/OIDC client (application) id.');
export const actorId = id('Who performed the change: the user, an admin or an API client.');
export const initiatedBy = oneOf(['user', 'admin', 'system', 'api'], 'Who initiated the action.');
export const reasonText = text(1024, 'A free-text reason, for humans.');
export const role = text(ID_MAX, 'A role name within the organization.');
export const providerId = id('The id of the identity provider connection (SAML/OIDC/social).');
export const providerType = oneOf(
  ['saml', 'oidc', 'oauth2', 'ldap', 'kerberos', 'social'],
  'The protocol of the identity provider.',
);
export const externalUserId = text(1024, "The user's id at the provider (subject or NameID).");

const AUTH_METHODS = ['password', 'passkey', 'sso', 'magic_link', 'social', 'otp'];
export const authMethod = oneOf(AUTH_METHODS, 'How the user authenticated.');

const MFA_METHODS = [
  'totp',
  'sms',
  'email',
  'webauthn',
  'passkey',
  'push',
  'recovery_code',
];
export const mfaMethod = oneOf(MFA_METHODS, 'The second factor.');

export const severity = oneOf(['low', 'medium', 'high', 'critical'], 'How serious the finding is.');

/** Where a request came from, as the core's GeoIP lookup resolved it. */
export const location = eventData([], {
  country: {
    type: 'string',
    pattern: '^[A-Z]{2}$',
    description: 'ISO 3166-1 alpha-2 country code.',
  },
  region: text(ID_MAX, 'Region or state.'),
  city: text(ID_MAX, 'City.'),
  latitude: { type: 'number', minimum: -90, maximum: 90 },
  longitude: { type: 'number', minimum: -180, maximum: 180 },
});

/** The fields every event that comes from a client request carries. */
export const requestContext: Properties = {
  ip_address: ipAddress,
  user_agent: userAgent,
  location,
};
