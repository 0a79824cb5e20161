/** The gRPC server's transport: plaintext, TLS, or mutual TLS (src/config/tls.ts). */
import { ServerCredentials } from '@grpc/grpc-js';
import type { TlsConfig } from '../config/tls';

export function serverCredentials(tls: TlsConfig | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  // With a client CA, a client without a certificate that chains to it fails the handshake:
  // no RPC, not even health or reflection, is reached.
  return ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.clientCa !== undefined);
}
