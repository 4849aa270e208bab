import os from 'node:os';
import path from 'node:path';
import { ensureDevCerts, type DevCertPaths } from '../src/dev/certs.js';

/** Dev certificates shared by the benchmark processes. */
export function testCertsIn(): DevCertPaths {
  return ensureDevCerts(path.join(os.tmpdir(), 'bars-bridge-bench-certs'));
}
