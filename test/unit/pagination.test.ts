import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/platform/errors.js';
import { decodeCursor, encodeCursor, page } from '../../src/platform/pagination.js';

describe('pagination', () => {
  it('round-trips cursors and refuses foreign ones', () => {
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    expect(decodeCursor(encodeCursor(id))).toBe(id);
    expect(decodeCursor(undefined)).toBeUndefined();
    expect(() => decodeCursor('not-a-cursor')).toThrow(DomainError);
  });
  it('returns a next cursor only when there is another page', () => {
    const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    expect(page(rows, 2)).toEqual({ items: [{ id: 'a' }, { id: 'b' }], nextCursor: encodeCursor('b') });
    expect(page(rows, 3).nextCursor).toBeNull();
  });
});
