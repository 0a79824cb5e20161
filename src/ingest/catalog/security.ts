import type { EventTypeDefinition } from './types';
import {
  actorId,
  count,
  eventData,
  id,
  list,
  oneOf,
  reasonText,
  requestContext,
  severity,
  timestamp,
  userId,
  username,
} from './common';

// Security events are routed by severity (a SIEM pages on "critical"), so every one requires it.

export const SECURITY_EVENTS: readonly EventTypeDefinition[] = [
  {
    name: 'security.breach_attempt_detected',
    category: 'security',
    description: 'An attack on accounts was detected, such as credential stuffing or brute force.',
    // The target may be many users or none known, so no user_id is required.
    schema: eventData(['attack_type', 'severity'], {
      attack_type: oneOf(
        ['credential_stuffing', 'brute_force', 'password_spraying', 'bot', 'token_replay', 'other'],
        'The kind of attack.',
      ),
      severity,
      user_id: userId,
      username,
      attempt_count: count('Attempts seen within the detection window.'),
      targeted_users: count('Distinct accounts targeted within the detection window.'),
      window_seconds: count('The length of the detection window.'),
      action_taken: oneOf(
        ['none', 'blocked', 'rate_limited', 'captcha_required', 'account_locked'],
        'What the platform did about it.',
      ),
      ...requestContext,
    }),
  },
  {
    name: 'security.account_locked',
    category: 'security',
    description: 'A user account was locked.',
    schema: eventData(['user_id', 'severity'], {
      user_id: userId,
      severity,
      reason: oneOf(
        ['too_many_failed_attempts', 'suspicious_activity', 'breach_detected', 'admin', 'policy'],
        'Why the account was locked.',
      ),
      locked_until: timestamp('When the lock lifts by itself; absent when an admin must unlock.'),
      failed_attempts: count('Failed attempts that led to the lock.'),
      actor_id: actorId,
      ...requestContext,
    }),
  },
  {
    name: 'security.suspicious_login',
    category: 'security',
    description: 'A sign-in looked risky, for example from a new device or an impossible location.',
    schema: eventData(['user_id', 'severity'], {
      user_id: userId,
      severity,
      risk_score: {
        type: 'number',
        minimum: 0,
        maximum: 100,
        description: 'The risk score, 0 to 100.',
      },
      // Free-form so the risk engine can add signals without a catalog change.
      signals: list(
        { type: 'string', pattern: '^[a-z0-9_]{1,64}$' },
        50,
        'What made it suspicious, e.g. new_device, new_location, impossible_travel, tor_exit_node.',
      ),
      action_taken: oneOf(
        ['none', 'mfa_challenged', 'blocked', 'user_notified'],
        'What the platform did about it.',
      ),
      session_id: id('The session the sign-in created, if it was allowed.'),
      ...requestContext,
    }),
  },
  {
    name: 'security.password_breach_detected',
    category: 'security',
    description: "A user's password was found in a known data breach.",
    schema: eventData(['user_id', 'severity'], {
      user_id: userId,
      severity,
      detected_during: oneOf(
        ['login', 'registration', 'password_change', 'periodic_scan'],
        'When the password was checked.',
      ),
      breach_count: count('How many known breaches contain the password.'),
      action_taken: oneOf(
        ['none', 'password_reset_required', 'account_locked', 'user_notified'],
        'What the platform did about it.',
      ),
      details: reasonText,
    }),
  },
];
