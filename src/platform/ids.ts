import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7, validate as uuidValidate } from 'uuid';

/** Time-ordered ids (UUIDv7): newest-first listings sort by id alone, and ids double as cursors. */
export const newId = (): string => uuidv7();

export const isUuid = (value: string): boolean => uuidValidate(value);

/** A random credential; only its hash is stored. */
export const newSecret = (prefix: string, bytes = 32): string =>
  `${prefix}${randomBytes(bytes).toString('base64url')}`;

/** Tokens are long random strings, so one SHA-256 suffices (no password stretching needed). */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
