/*
 * File-drop destination: a legacy system polls a directory. The system must never pick up half a message, so each
 * message is written to a dot-prefixed temporary name in the SAME directory (rename is only atomic within one file
 * system) and then renamed to its final name. With fsync on, the file is flushed before the rename and the directory
 * after it, so once we record "delivered" the file survives a power cut.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FileDestination } from '../../config/destinations.js';
import { FileWriteError } from '../../protocol/hl7/transport-errors.js';

/** Values substituted into `fileNamePattern`. */
export interface FileNameValues {
  readonly controlId: string;
  readonly messageId: string;
  readonly destination: string;
  readonly now: Date;
}

/** Expands a fileNamePattern; characters that are unsafe in file names are replaced by '_'. */
export function fileNameFor(pattern: string, values: FileNameValues): string {
  const stamp = values.now.toISOString().replace(/[-:.TZ]/g, '').slice(0, 17);
  const name = pattern
    .replaceAll('{controlId}', values.controlId)
    .replaceAll('{messageId}', values.messageId)
    .replaceAll('{destination}', values.destination)
    .replaceAll('{timestamp}', stamp);
  // No path separators, and no leading dot: dot-names are our temporary files, which pollers must ignore.
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
  if (safe === '' || safe === '_') {
    throw new FileWriteError(`file name pattern gives an unusable name: ${JSON.stringify(safe)}`);
  }
  return safe;
}

/**
 * Writes one message atomically into the destination directory.
 * @returns the final path. Writing the same name again replaces the file (a resend is idempotent).
 */
export async function dropFile(
  destination: FileDestination,
  text: string,
  values: FileNameValues,
  encoding: BufferEncoding = 'utf8',
): Promise<string> {
  const finalName = fileNameFor(destination.fileNamePattern, values);
  const finalPath = path.join(destination.directory, finalName);
  const tempPath = path.join(destination.directory, `.${finalName}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tempPath, 'wx');
    try {
      await handle.writeFile(text, { encoding });
      if (destination.fsync) {
        await handle.sync();
      }
    } finally {
      await handle.close();
    }
    await rename(tempPath, finalPath);
    if (destination.fsync) {
      const dir = await open(destination.directory, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    }
    return finalPath;
  } catch (err) {
    await rm(tempPath, { force: true }).catch(() => undefined);
    throw new FileWriteError(`file drop to ${destination.name} failed: ${(err as Error).message}`, { cause: err });
  }
}
