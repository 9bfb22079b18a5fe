import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7, validate as uuidValidate } from 'uuid';

/** Time-ordered ids (UUIDv7): newest-first listings sort by id alone, and ids double as cursors. */
export const newId = (): string => uuidv7();

/**
 * True for an id in the canonical (lowercase) form every id is issued in. Another spelling of the
 * same UUID names nothing: one entity has one key everywhere (queue lines, caches, batches, rate
 * limits), so `…/queue` with the id in capitals cannot open a second line for the same concert.
 */
export const isUuid = (value: string): boolean => uuidValidate(value) && value === value.toLowerCase();

/** A random credential; only its hash is stored. */
export const newSecret = (prefix: string, bytes = 32): string =>
  `${prefix}${randomBytes(bytes).toString('base64url')}`;

/** Tokens are long random strings, so one SHA-256 suffices (no password stretching needed). */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
