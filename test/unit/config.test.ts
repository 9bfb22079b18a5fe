import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, loadConfig } from '../../src/config.js';

const SECRET_32 = 'a-previous-secret-of-32-chars-xx';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a config error for ${Object.keys(env).join(', ')}`);
}

describe('config: secrets', () => {
  it('checks every previous token secret on its own and exposes the parsed, frozen list', () => {
    const config = loadConfig({ TOKEN_SECRET_PREVIOUS: ` ${SECRET_32} , ${SECRET_32}-2 ` });
    expect(config.TOKEN_SECRET_PREVIOUS).toEqual([SECRET_32, `${SECRET_32}-2`]);
    expect(Object.isFrozen(config.TOKEN_SECRET_PREVIOUS)).toBe(true);
    expect(loadConfig({}).TOKEN_SECRET_PREVIOUS).toEqual([]);

    // A one-character key hidden behind a long one would let anyone forge queue tokens.
    expect(problemsOf({ TOKEN_SECRET_PREVIOUS: `x,${SECRET_32}` })).toEqual([
      'TOKEN_SECRET_PREVIOUS: is a comma-separated list: entry 1 must be at least 32 characters long',
    ]);
    expect(problemsOf({ TOKEN_SECRET_PREVIOUS: `${SECRET_32},,${SECRET_32}` })[0]).toMatch(/entry 2 is empty/);
    expect(problemsOf({ TOKEN_SECRET_PREVIOUS: `${SECRET_32},` })[0]).toMatch(/entry 2 is empty/);
  });

  it('names the variable and the rule, never a secret value', () => {
    const tokenSecret = 'too-short-secret-value';
    const password = 'pg-Pa55word-never-printed';
    const env = {
      TOKEN_SECRET: tokenSecret,
      ADMIN_TOKEN: 'short-admin',
      DATABASE_URL: `postgres://app:${password}@db.internal:notaport/tickets`,
      REDIS_URL: `redis://:${password}@cache.internal:6379/zz:`,
      DATA_PLATFORM_URL: `ftp://user:${password}@export.example`,
      TOKEN_SECRET_PREVIOUS: `${password},${SECRET_32}`,
      PORT: 'eighty',
    };
    const problems = problemsOf(env);
    const text = problems.join('\n') + new ConfigError(problems).message;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(
      ['ADMIN_TOKEN', 'DATABASE_URL', 'DATA_PLATFORM_URL', 'PORT', 'TOKEN_SECRET', 'TOKEN_SECRET_PREVIOUS'].sort(),
    );
    expect(problems).toContain('TOKEN_SECRET: must be at least 32 characters long');
    expect(problems).toContain('DATABASE_URL: must be a well-formed URL');
    expect(text).not.toContain(tokenSecret);
    expect(text).not.toContain('short-admin');
    expect(text).not.toContain(password);
    expect(text).not.toContain('db.internal');
    // A value that cannot be a secret is shown, to help whoever fixes it.
    expect(problems).toContain('PORT: must be a whole number (decimal digits only) from 0 to 65535 (got "eighty")');
  });
});

describe('config: numbers and booleans', () => {
  it.each(['1e3', '10.5', ' 0x10', '0x10', '+5', '5abc', '1_000', 'Infinity', '-', '9007199254740993'])(
    'refuses %j as an integer',
    (value) => {
      expect(problemsOf({ HOLD_TTL_SECONDS: value })).toEqual([
        `HOLD_TTL_SECONDS: must be a whole number (decimal digits only) from 1 to 86400 (got ${JSON.stringify(value.trim())})`,
      ]);
    },
  );

  it('accepts plain decimal integers in range and refuses the rest', () => {
    expect(loadConfig({ HOLD_TTL_SECONDS: ' 1000 ', PORT: '0' })).toMatchObject({ HOLD_TTL_SECONDS: 1000, PORT: 0 });
    expect(problemsOf({ HOLD_TTL_SECONDS: '86401' })[0]).toMatch(/^HOLD_TTL_SECONDS: .* from 1 to 86400/);
    expect(problemsOf({ PORT: '-1' })[0]).toMatch(/^PORT: /);
  });

  it('gives the waiting room settings maxima', () => {
    expect(problemsOf({ QUEUE_MAX_ACTIVE: '1000001', QUEUE_ADMIT_PER_SECOND: '1000001', QUEUE_ACTIVE_TTL_SECONDS: '86401' })).toHaveLength(3);
    expect(loadConfig({ QUEUE_MAX_ACTIVE: '1000000', QUEUE_ADMIT_PER_SECOND: '1000000', QUEUE_ACTIVE_TTL_SECONDS: '86400' })).toMatchObject({
      QUEUE_MAX_ACTIVE: 1_000_000,
    });
  });

  it('has a maximum for every number', () => {
    const unbounded = Object.entries(ConfigSchema.properties as Record<string, TSchema>)
      .filter(([, s]) => (s.type === 'integer' || s.type === 'number') && s.maximum === undefined)
      .map(([name]) => name);
    expect(unbounded).toEqual([]);
  });

  it('reads decimals strictly', () => {
    expect(loadConfig({ CACHE_XFETCH_BETA: '0.5' }).CACHE_XFETCH_BETA).toBe(0.5);
    for (const bad of ['0', '1e1', '.5', '101']) expect(problemsOf({ CACHE_XFETCH_BETA: bad })).toHaveLength(1);
  });

  it('takes true/false (any case) or 1/0 as booleans, nothing else', () => {
    expect(loadConfig({ DEMO_DATA: 'FALSE', CACHE_ENABLED: '0', OUTBOX_RELAY_ENABLED: 'True' })).toMatchObject({
      DEMO_DATA: false,
      CACHE_ENABLED: false,
      OUTBOX_RELAY_ENABLED: true,
    });
    for (const bad of ['yes', 'no', 'on', 'off', '2']) {
      expect(problemsOf({ DEMO_DATA: bad })).toEqual([`DEMO_DATA: must be true or false (or 1 or 0) (got "${bad}")`]);
    }
  });

  it('refuses a value outside a list of choices, naming them', () => {
    expect(problemsOf({ LOG_LEVEL: 'verbose' })).toEqual([
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    ]);
  });
});

describe('TRUST_PROXY', () => {
  it('takes addresses or CIDRs, a hop count, true or false, and refuses anything else', async () => {
    const { trustProxyOf } = await import('../../src/app.js');
    for (const value of ['10.0.0.1', '10.0.0.0/8, 192.168.1.7', '::1,fd00::/8', '2', 'true', 'false']) {
      expect(loadConfig({ TRUST_PROXY: value }).TRUST_PROXY, value).toBe(value);
    }
    for (const value of ['yes', 'proxy.example', '10.0.0.1;rm', '10.0.0.1 10.0.0.2']) {
      expect(problemsOf({ TRUST_PROXY: value }).join(), value).toMatch(/^TRUST_PROXY/);
    }
    expect(trustProxyOf(undefined)).toBe(false);
    expect(trustProxyOf('false')).toBe(false);
    expect(trustProxyOf('true')).toBe(true);
    expect(trustProxyOf('10.0.0.0/8, 192.168.1.7')).toEqual(['10.0.0.0/8', '192.168.1.7']);
    const twoHops = trustProxyOf('2') as (address: string, hop: number) => boolean;
    expect([twoHops('10.0.0.1', 0), twoHops('10.0.0.1', 1), twoHops('10.0.0.1', 2)]).toEqual([true, true, false]);
  });
});

describe('config', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      DATA_DIR: '.data',
      HOLD_TTL_SECONDS: 300,
      HOLD_LIMIT_PER_SCHEDULE: 4,
      QUEUE_MAX_ACTIVE: 1000,
      QUEUE_ADMIT_PER_SECOND: 50,
      QUEUE_ACTIVE_TTL_SECONDS: 600,
      DEMO_DATA: true,
      LOG_LEVEL: 'info',
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });
  it('converts values and lists every problem at once', () => {
    expect(loadConfig({ PORT: '8080', DEMO_DATA: 'false' })).toMatchObject({ PORT: 8080, DEMO_DATA: false });
    try {
      loadConfig({ PORT: 'abc', HOLD_TTL_SECONDS: '0', DATABASE_URL: 'mysql://x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/PORT/);
      expect(problems).toMatch(/HOLD_TTL_SECONDS/);
      expect(problems).toMatch(/DATABASE_URL/);
    }
  });
});

describe('config: rules between variables', () => {
  it('refuses an idempotency lease shorter than twice the connect timeout, naming both variables', () => {
    const problems = problemsOf({ IDEMPOTENCY_LEASE_MS: '9000', DATABASE_CONNECT_TIMEOUT_MS: '5000' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^IDEMPOTENCY_LEASE_MS: must be at least 2 × DATABASE_CONNECT_TIMEOUT_MS \(got 9000 and 5000\)/);
    expect(problemsOf({ DATABASE_CONNECT_TIMEOUT_MS: '5001' })[0]).toMatch(/IDEMPOTENCY_LEASE_MS.*DATABASE_CONNECT_TIMEOUT_MS/);
    // The defaults satisfy it, and so does exactly twice.
    expect(loadConfig({}).IDEMPOTENCY_LEASE_MS).toBeGreaterThanOrEqual(2 * loadConfig({}).DATABASE_CONNECT_TIMEOUT_MS);
    expect(loadConfig({ IDEMPOTENCY_LEASE_MS: '4000', DATABASE_CONNECT_TIMEOUT_MS: '2000' }).IDEMPOTENCY_LEASE_MS).toBe(4000);
  });
});
