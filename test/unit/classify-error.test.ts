import { expect } from 'chai';
import { classifyError } from '../../src/delivery/classify-error';

function failure(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifying a failed request', () => {
  it('records every certificate verification failure Node reports as tls', () => {
    const codes = [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE', // a missing intermediate: "unable to verify the first certificate"
      'INVALID_CA',
      'PATH_LENGTH_EXCEEDED',
      'HOSTNAME_MISMATCH',
      'INVALID_PURPOSE',
      'UNABLE_TO_GET_CRL',
      'CRL_HAS_EXPIRED',
      'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
      'CERT_HAS_EXPIRED',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'ERR_SSL_WRONG_VERSION_NUMBER',
    ];
    for (const code of codes) expect(classifyError(failure(code)).errorClass, code).to.equal('tls');
  });

  it('finds the code on the cause undici wraps it in', () => {
    const wrapped = new TypeError('fetch failed', { cause: failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate') });
    expect(classifyError(wrapped)).to.deep.equal({ errorClass: 'tls', message: 'unable to verify the first certificate' });
  });

  it('leaves other codes to their own classes, and unknown ones as network', () => {
    expect(classifyError(failure('ECONNREFUSED')).errorClass).to.equal('connection_refused');
    expect(classifyError(failure('ENOTFOUND')).errorClass).to.equal('dns');
    expect(classifyError(failure('OUT_OF_MEM')).errorClass).to.equal('network');
    expect(classifyError(failure('EHOSTUNREACH')).errorClass).to.equal('network');
  });
});
