import { Type, type StringOptions } from '@sinclair/typebox';

/**
 * Text without control characters: C0 (NUL included, which PostgreSQL `text` cannot hold, and
 * tab or newline, which no name, id or key needs), DEL and C1; nor half of a surrogate pair, which
 * PostgreSQL would store as U+FFFD, so the stored text would differ from the answer. (Patterns run
 * with the `u` flag: a whole pair is one code point and passes.) Validation names the rule (see
 * problem.ts) rather than quoting the pattern.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$';

export const PlainText = (options: StringOptions = {}) => Type.String({ ...options, pattern: NO_CONTROL_CHARACTERS });

/** An id in a path or body. Ids are UUIDs; any other text names nothing (404), as an unknown UUID. */
export const Id = PlainText({ minLength: 1, maxLength: 100 });

/** An amount of money, in whole won. */
export const Money = Type.Integer({ minimum: 0, description: 'won' });
