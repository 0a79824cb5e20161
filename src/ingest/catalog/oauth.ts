import type { EventTypeDefinition } from './types';
import {
  actorId,
  clientId,
  eventData,
  id,
  initiatedBy,
  list,
  oneOf,
  requestContext,
  sessionId,
  text,
  timestamp,
  userId,
} from './common';

const TOKEN_TYPES = [
  'access_token',
  'refresh_token',
  'id_token',
  'authorization_code',
  'device_code',
];
const REVOCATION_REASONS = [
  'client_request',
  'user_revoked',
  'logout',
  'admin',
  'refresh_token_reuse',
  'security',
  'other',
];

// Grant types are free strings: extension grants are URNs
// (urn:ietf:params:oauth:grant-type:device_code, ...token-exchange, ...jwt-bearer).
const grantType = text(256, 'The OAuth grant type, e.g. authorization_code or client_credentials.');
const scopes = list(text(256, 'A scope.'), 100, 'The scopes granted.');
const tokenId = id('The token id (jti), never the token itself.');

export const OAUTH_EVENTS: readonly EventTypeDefinition[] = [
  {
    name: 'oauth.client_registered',
    category: 'oauth',
    description: 'An OAuth/OIDC client application was registered.',
    schema: eventData(['client_id'], {
      client_id: clientId,
      client_name: text(256, 'The display name of the client.'),
      client_type: oneOf(['confidential', 'public'], 'Whether the client can keep a secret.'),
      grant_types: list(grantType, 20, 'The grant types the client may use.'),
      redirect_uris: list(
        { type: 'string', format: 'uri', maxLength: 2048 },
        100,
        'The registered redirect URIs.',
      ),
      scopes,
      registration_method: oneOf(
        ['admin', 'dynamic_registration', 'api'],
        'How the client was registered (dynamic registration is RFC 7591).',
      ),
      actor_id: actorId,
    }),
  },
  {
    name: 'oauth.token_issued',
    category: 'oauth',
    description: 'A token was issued to an OAuth/OIDC client.',
    // user_id is optional: client_credentials tokens have no user.
    schema: eventData(['client_id'], {
      client_id: clientId,
      user_id: userId,
      token_type: oneOf(TOKEN_TYPES, 'The kind of token.'),
      token_id: tokenId,
      grant_type: grantType,
      scopes,
      audience: list(text(2048, 'An audience.'), 20, 'The audiences of the token.'),
      expires_at: timestamp('When the token expires.'),
      session_id: sessionId,
      ...requestContext,
    }),
  },
  {
    name: 'oauth.token_revoked',
    category: 'oauth',
    description: 'A token of an OAuth/OIDC client was revoked.',
    schema: eventData(['client_id'], {
      client_id: clientId,
      user_id: userId,
      token_type: oneOf(TOKEN_TYPES, 'The kind of token.'),
      token_id: tokenId,
      reason: oneOf(REVOCATION_REASONS, 'Why the token was revoked.'),
      initiated_by: initiatedBy,
      actor_id: actorId,
      ...requestContext,
    }),
  },
];
