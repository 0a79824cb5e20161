/**
 * The event catalog: every event type the identity core may publish, with the JSON Schema of its
 * `data`. DESIGN.md ("Event catalog") fixes the names; the category files hold the schemas.
 */
import { MFA_EVENTS } from './mfa';
import { OAUTH_EVENTS } from './oauth';
import { ORGANIZATION_EVENTS } from './organization';
import { SECURITY_EVENTS } from './security';
import { SESSION_EVENTS } from './session';
import { SSO_EVENTS } from './sso';
import { USER_EVENTS } from './user';

export interface EventTypeDefinition {
  /** e.g. "user.login". */
  readonly name: string;
  /** e.g. "user": the part before the dot, what `user.*` subscriptions match. */
  readonly category: string;
  /** One sentence saying what happened, for an admin UI. */
  readonly description: string;
  /** The JSON Schema of the event's `data` (draft-07 and 2020-12 alike; see common.ts). */
  readonly schema: Readonly<Record<string, unknown>>;
  /** True only for "webhook.test": sent by SendTestEvent, never accepted from ingest. */
  readonly internal?: boolean;
}

const WEBHOOK_TEST: EventTypeDefinition = {
  name: 'webhook.test',
  category: 'webhook',
  description: 'A test event sent on request to check that a webhook endpoint works.',
  // Whatever the admin put in SendTestEvent's data, as long as it is an object.
  schema: { type: 'object', additionalProperties: true },
  internal: true,
};

/** Frozen all the way down: schemas are shared by reference with ajv and ListEventTypes. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** In DESIGN.md's table order, which is the order ListEventTypes serves. */
export const EVENT_TYPES: readonly EventTypeDefinition[] = deepFreeze([
  ...USER_EVENTS,
  ...MFA_EVENTS,
  ...SECURITY_EVENTS,
  ...SSO_EVENTS,
  ...ORGANIZATION_EVENTS,
  ...SESSION_EVENTS,
  ...OAUTH_EVENTS,
  WEBHOOK_TEST,
]);
