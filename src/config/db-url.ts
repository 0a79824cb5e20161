import path from 'node:path';
import type { DbTls } from './db-tls';

export type DbTarget =
  | {
      readonly kind: 'mysql';
      readonly host: string;
      readonly port: number;
      readonly user: string;
      readonly password: string;
      readonly database: string;
      /** Set from WEBHOOKS_DB_TLS and its files (./db-tls.ts); absent: plain TCP. */
      readonly tls?: DbTls;
    }
  | { readonly kind: 'sqlite'; readonly file: string; readonly dataDir: string };

/** `mysql://user:pass@host:port/db` or `sqlite:PATH`. */
export function parseDbUrl(value: string): DbTarget {
  if (value.startsWith('sqlite:')) {
    const file = value.slice('sqlite:'.length);
    if (file === '') throw new Error('sqlite: needs a file path, e.g. sqlite:./data/webhooks.db');
    const resolved = path.resolve(file);
    return { kind: 'sqlite', file: resolved, dataDir: path.dirname(resolved) };
  }
  if (value.startsWith('mysql://')) return parseMysqlUrl(value);
  throw new Error('must start with mysql:// or sqlite:');
}

function parseMysqlUrl(value: string): DbTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('is not a valid mysql:// URL');
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) {
    throw new Error('must name a database, e.g. mysql://user:pass@host:3306/webhooks');
  }
  if (url.hostname === '') throw new Error('must name a host');
  // Options the connection does not read would be ignored without a word: ?ssl=true would
  // connect in clear text. Only their names are quoted (a value could be a secret).
  if (url.search !== '' || url.hash !== '') {
    const names = [...url.searchParams.keys()].join(', ') || url.hash;
    throw new Error(`takes no connection options (${names}): TLS to the database is set with WEBHOOKS_DB_TLS`);
  }
  return {
    kind: 'mysql',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
  };
}
