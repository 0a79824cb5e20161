/**
 * What of an error may be logged. knex puts the failed statement, bound values included, at the
 * front of its messages ("insert into `events` ... - Duplicate entry ..."), and those values can
 * be payloads or sealed secrets, so only the driver's own message is kept.
 */
export interface ErrorSummary {
  name: string;
  code?: string;
  message: string;
  stack?: string;
}

const SQL_PREFIX = /^(insert|select|update|delete|with|create|alter|drop|pragma)\b[\s\S]* - /i;

export function describeError(err: unknown): ErrorSummary {
  if (!(err instanceof Error)) return { name: 'NonError', message: String(err).slice(0, 200) };
  const code = (err as { code?: unknown }).code;
  const sqlMessage = (err as { sqlMessage?: unknown }).sqlMessage;
  const isDbError = typeof sqlMessage === 'string' || SQL_PREFIX.test(err.message);
  const message =
    typeof sqlMessage === 'string' ? sqlMessage : err.message.replace(SQL_PREFIX, '');
  return {
    name: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    message,
    ...(isDbError ? {} : { stack: err.stack }),
  };
}
