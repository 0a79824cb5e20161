import type { EventTypeDefinition } from './types';
import { actorId, eventData, id, initiatedBy, oneOf, reasonText, role, userId } from './common';

// The organization itself is the envelope's organization_id, not a data field: it is what
// webhooks narrowed to some organizations filter on, so it has one place only.

export const ORGANIZATION_EVENTS: readonly EventTypeDefinition[] = [
  {
    name: 'organization.user_added',
    category: 'organization',
    description: 'A user became a member of an organization.',
    schema: eventData(['user_id'], {
      user_id: userId,
      role,
      method: oneOf(
        ['invitation', 'admin', 'jit_provisioning', 'scim', 'domain_capture', 'api'],
        'How the user joined.',
      ),
      invitation_id: id('The invitation the user accepted, if any.'),
      initiated_by: initiatedBy,
      actor_id: actorId,
    }),
  },
  {
    name: 'organization.user_removed',
    category: 'organization',
    description: 'A user stopped being a member of an organization.',
    schema: eventData(['user_id'], {
      user_id: userId,
      role: { ...role, description: 'The role the user had.' },
      initiated_by: initiatedBy,
      actor_id: actorId,
      reason: reasonText,
    }),
  },
  {
    name: 'organization.role_changed',
    category: 'organization',
    description: "A member's role in an organization changed.",
    schema: eventData(['user_id', 'new_role'], {
      user_id: userId,
      previous_role: role,
      new_role: role,
      initiated_by: initiatedBy,
      actor_id: actorId,
    }),
  },
];
