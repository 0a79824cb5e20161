/**
 * Checks the token as soon as a call's metadata arrives, before grpc-js reads its message. grpc-js
 * decodes a whole request (up to the 8 MiB receive limit) before the handler runs, and the
 * generated decoders spend about a microsecond a byte on messages of many small fields: checked
 * only in the handler, a caller with no token could hold the event loop for seconds per call.
 * A call refused here is answered at once and its message is never read nor decoded. The handler
 * still authorizes (src/grpc/handlers.ts): it needs the role, and a service without an entry here
 * is then still guarded.
 */
import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, type ServerInterceptor } from '@grpc/grpc-js';
import { SERVICE_ROLES, type Authenticator } from './auth';
import { statusObjectOf } from './status';

/** The service part of a method path, "/webhooks.v1.EventIngest/PublishEvent" → "webhooks.v1.EventIngest". */
function serviceOf(path: string): string {
  return path.split('/')[1] ?? '';
}

export function tokenInterceptor(auth: Authenticator): ServerInterceptor {
  return (method, call) => {
    const allowed = SERVICE_ROLES[serviceOf(method.path)];
    // Health and reflection need no token.
    if (allowed === undefined) return new ServerInterceptingCall(call);
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        try {
          auth.authorize(metadata, allowed);
        } catch (err) {
          // Without next(), the handler never asks grpc-js to read the message.
          call.sendStatus(statusObjectOf(err));
          return;
        }
        next(metadata);
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
