import type { EventTypeDefinition } from './types';
import {
  actorId,
  authMethod,
  clientId,
  count,
  eventData,
  flag,
  id,
  list,
  oneOf,
  requestContext,
  sessionId,
  timestamp,
  userId,
} from './common';

const TERMINATION_REASONS = [
  'logout',
  'expired',
  'idle_timeout',
  'revoked_by_user',
  'revoked_by_admin',
  'password_changed',
  'concurrent_limit',
  'security',
  'other',
];

export const SESSION_EVENTS: readonly EventTypeDefinition[] = [
  {
    name: 'session.created',
    category: 'session',
    description: 'A session was started for a user.',
    schema: eventData(['session_id', 'user_id'], {
      session_id: sessionId,
      user_id: userId,
      client_id: clientId,
      auth_method: authMethod,
      expires_at: timestamp('When the session expires at the latest.'),
      remember_me: flag('Whether the user asked to stay signed in.'),
      ...requestContext,
    }),
  },
  {
    name: 'session.terminated',
    category: 'session',
    description: 'A session ended.',
    schema: eventData(['session_id'], {
      session_id: sessionId,
      user_id: userId,
      reason: oneOf(TERMINATION_REASONS, 'Why the session ended.'),
      actor_id: actorId,
      duration_seconds: count('How long the session lasted.'),
    }),
  },
  {
    name: 'session.concurrent_limit_reached',
    category: 'session',
    description: 'A user reached the maximum number of concurrent sessions.',
    // The new session may have been refused before it got an id, so the user is the subject.
    schema: eventData(['user_id', 'limit'], {
      user_id: userId,
      limit: { type: 'integer', minimum: 1, description: 'The configured maximum.' },
      active_sessions: count('Active sessions when the limit was hit.'),
      action: oneOf(
        ['new_session_denied', 'oldest_session_terminated'],
        'What the platform did to stay within the limit.',
      ),
      session_id: id('The new session, if it was allowed.'),
      terminated_session_ids: list(sessionId, 100, 'Sessions ended to make room.'),
      client_id: clientId,
      ...requestContext,
    }),
  },
];
