/** The name the sidecar reports itself by: logs' `service`, traces' and metrics' service.name. */
export const SERVICE_NAME = 'webhooks-sidecar';
