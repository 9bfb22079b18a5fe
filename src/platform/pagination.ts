import { Type } from '@sinclair/typebox';
import { DomainError } from './errors.js';
import { isUuid } from './ids.js';
import { PlainText } from './schema.js';

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(PlainText({ minLength: 1, maxLength: 200 })),
});

/** Cursors are opaque to clients; inside they are the last key of the page (an id: ids are time-ordered). */
export const encodeCursor = (key: string): string => Buffer.from(key).toString('base64url');

/** The key inside a cursor, refused (400) unless `isKey` accepts it: a cursor this service never returned. */
export function decodeCursor(cursor: string | undefined, isKey: (key: string) => boolean = isUuid): string | undefined {
  if (cursor === undefined) return undefined;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isKey(key)) {
    throw new DomainError('VALIDATION_FAILED', 'cursor is not one this service returned', {
      errors: [{ path: '/querystring/cursor', message: 'is not a valid cursor' }],
    });
  }
  return key;
}

/** Given limit+1 rows, returns the page and the cursor of the next one. */
export function page<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}
