import type { EventTypeDefinition } from './types';
import {
  actorId,
  count,
  eventData,
  flag,
  initiatedBy,
  list,
  mfaMethod,
  oneOf,
  requestContext,
  sessionId,
  text,
  userId,
} from './common';

/** WebAuthn AuthenticatorTransport values (WebAuthn Level 3). */
const TRANSPORTS = ['usb', 'nfc', 'ble', 'smart-card', 'hybrid', 'internal'];

export const MFA_EVENTS: readonly EventTypeDefinition[] = [
  {
    name: 'mfa.enabled',
    category: 'mfa',
    description: 'A second factor was enabled for a user.',
    schema: eventData(['user_id', 'method'], {
      user_id: userId,
      method: mfaMethod,
      initiated_by: initiatedBy,
      actor_id: actorId,
      ...requestContext,
    }),
  },
  {
    name: 'mfa.disabled',
    category: 'mfa',
    description: 'A second factor was disabled for a user.',
    schema: eventData(['user_id', 'method'], {
      user_id: userId,
      method: mfaMethod,
      initiated_by: initiatedBy,
      actor_id: actorId,
      ...requestContext,
    }),
  },
  {
    name: 'mfa.passkey_registered',
    category: 'mfa',
    description: 'A user registered a passkey (WebAuthn credential).',
    schema: eventData(['user_id', 'credential_id'], {
      user_id: userId,
      // A WebAuthn credential id is at most 1023 bytes, about 1364 characters in base64url.
      credential_id: {
        type: 'string',
        minLength: 1,
        maxLength: 1400,
        description: 'The credential id, base64url.',
      },
      name: text(256, 'The name the user gave the passkey.'),
      aaguid: { type: 'string', format: 'uuid', description: 'The authenticator model (AAGUID).' },
      backup_eligible: flag('Whether the passkey can be synced between devices.'),
      user_verified: flag('Whether the authenticator verified the user (PIN, biometrics).'),
      transports: list(oneOf(TRANSPORTS, 'A transport.'), 6, 'How the authenticator is reached.'),
      ...requestContext,
    }),
  },
  {
    name: 'mfa.challenge_failed',
    category: 'mfa',
    description: 'A user failed a second-factor challenge.',
    schema: eventData(['user_id'], {
      user_id: userId,
      method: mfaMethod,
      reason: oneOf(
        ['invalid_code', 'expired', 'rate_limited', 'cancelled', 'verification_failed', 'other'],
        'Why the challenge failed.',
      ),
      failed_attempts: count('Consecutive failed challenges, including this one.'),
      session_id: sessionId,
      ...requestContext,
    }),
  },
];
