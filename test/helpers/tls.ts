import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI, or undefined without it. */
export function selfSignedCertificate(dir: string, suite: string): { cert: string; key: string } | undefined {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { encoding: 'utf8' },
  );
  if (result.error || result.status !== 0) {
    const message = `openssl could not make a test certificate (${result.error?.message ?? result.stderr})`;
    if (process.env.CI) throw new Error(`${message}; CI requires it`);
    console.warn(`\n*** SKIPPING ${suite}: ${message} ***\n`);
    return undefined;
  }
  return { cert, key };
}
