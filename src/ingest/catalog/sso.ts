import type { EventTypeDefinition } from './types';
import {
  actorId,
  email,
  eventData,
  externalUserId,
  flag,
  initiatedBy,
  providerId,
  providerType,
  type Properties,
  requestContext,
  sessionId,
  text,
  userId,
} from './common';

// Every sso event names both sides of the federation: the local user and the provider connection.
const PROVIDER: Properties = {
  provider_id: providerId,
  provider_type: providerType,
  provider_name: text(256, 'The display name of the provider connection, e.g. "Okta".'),
  external_user_id: externalUserId,
};

export const SSO_EVENTS: readonly EventTypeDefinition[] = [
  {
    name: 'sso.authentication_completed',
    category: 'sso',
    description: 'A user signed in through an external identity provider.',
    schema: eventData(['user_id', 'provider_id'], {
      user_id: userId,
      ...PROVIDER,
      email,
      session_id: sessionId,
      jit_provisioned: flag('Whether the user was created by this sign-in (just-in-time).'),
      ...requestContext,
    }),
  },
  {
    name: 'sso.provider_linked',
    category: 'sso',
    description: 'An external identity was linked to a user.',
    schema: eventData(['user_id', 'provider_id'], {
      user_id: userId,
      ...PROVIDER,
      initiated_by: initiatedBy,
      actor_id: actorId,
      ...requestContext,
    }),
  },
  {
    name: 'sso.provider_unlinked',
    category: 'sso',
    description: 'An external identity was unlinked from a user.',
    schema: eventData(['user_id', 'provider_id'], {
      user_id: userId,
      ...PROVIDER,
      initiated_by: initiatedBy,
      actor_id: actorId,
      ...requestContext,
    }),
  },
];
