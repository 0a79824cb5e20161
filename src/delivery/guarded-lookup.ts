/**
 * The SSRF guard at the socket: undici connects through this lookup, which resolves the name once,
 * refuses when any resolved address is outside the public internet (unless allowed), and hands
 * the socket exactly the addresses it checked, so a second resolution (DNS rebinding) cannot slip
 * a private address in. IP literals skip DNS entirely; the sender checks those itself.
 */
import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { classifyAddress, isAllowedAddress, type AllowedRanges } from '../security/destination';

export class DestinationRefusedError extends Error {
  readonly code = 'EDESTINATIONREFUSED';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
export type Resolver = (hostname: string, options: LookupOptions & { all: true }) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname, options) => dns.promises.lookup(hostname, options);

export function guardedLookup(allowed: AllowedRanges, resolve: Resolver = systemResolver) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }).then(
      (addresses) => {
        const refused = addresses.find((a) => !isAllowedAddress(a.address, allowed));
        if (refused) {
          callback(refusal(hostname, refused.address), []);
        } else if (addresses.length === 0) {
          callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
        } else if (options.all) {
          callback(null, addresses);
        } else {
          callback(null, addresses[0]!.address, addresses[0]!.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    );
  };
}

export function refusal(host: string, address: string): DestinationRefusedError {
  const reason = classifyAddress(address) ?? 'not allowed';
  return new DestinationRefusedError(`${host} resolves to a ${reason} address, which webhooks may not reach`);
}
