/** Whether a received request verifies with a webhook secret, by the official Standard Webhooks library. */
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { ReceivedRequest } from './receiver';

export function signedWith(secret: string, req: ReceivedRequest): boolean {
  try {
    new StandardWebhook(secret).verify(req.body, {
      'webhook-id': req.headers['webhook-id'] as string,
      'webhook-timestamp': req.headers['webhook-timestamp'] as string,
      'webhook-signature': req.headers['webhook-signature'] as string,
    });
    return true;
  } catch {
    return false;
  }
}
