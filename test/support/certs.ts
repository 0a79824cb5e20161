/**
 * X.509 certificates made at test time, for the TLS and mTLS tests: a CA, and server or client
 * certificates it signs. node:crypto makes the RSA keys (fast, native); node-forge builds and
 * signs the certificates, which node:crypto cannot.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

export interface Authority extends Pem {
  readonly name: string;
  /** A server certificate names `hosts` (IP addresses or DNS names; 127.0.0.1 and localhost by default). */
  issue(commonName: string, use: 'server' | 'client', hosts?: readonly string[]): Pem;
}

function keyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privatePem: privateKey, publicPem: publicKey };
}

function certificate(
  subject: string,
  publicPem: string,
  issuer: { name: string; keyPem: string },
  extensions: object[],
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // A positive serial: the leading 01 keeps the high bit clear.
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600 * 1000);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  cert.setIssuer([{ name: 'commonName', value: issuer.name }]);
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(issuer.keyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** A self-signed CA that issues server certificates for 127.0.0.1/localhost and client certificates. */
export function createAuthority(name: string): Authority {
  const { privatePem, publicPem } = keyPair();
  const self = { name, keyPem: privatePem };
  const caCert = certificate(name, publicPem, self, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  return {
    name,
    cert: caCert,
    key: privatePem,
    issue(commonName, use, hosts = ['127.0.0.1', 'localhost']) {
      const leaf = keyPair();
      const cert = certificate(commonName, leaf.publicPem, self, [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: use === 'server', clientAuth: use === 'client' },
        ...(use === 'server'
          ? [{ name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) }]
          : []),
      ]);
      return { cert, key: leaf.privatePem };
    },
  };
}
