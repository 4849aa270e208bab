/** A PEM file named in the configuration (certificates, keys, CAs), read as text; a missing file fails start-up. */
import { readFileSync } from 'node:fs';

export const readPem = (file: string): string => readFileSync(file, 'utf8');
