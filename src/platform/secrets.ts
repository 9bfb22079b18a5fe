import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newSecret } from './ids.js';

export interface GeneratedSecrets {
  adminToken: string;
  tokenSecret: string;
  databasePassword: string;
}

/**
 * Secrets that default to values generated on first start and kept in DATA_DIR (mode 0600),
 * so restarts keep the same admin token, queue-token key and embedded database password.
 */
export function loadOrCreateSecrets(dataDir: string): GeneratedSecrets {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'secrets.json');
  const existing: Partial<GeneratedSecrets> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const secrets: GeneratedSecrets = {
    adminToken: existing.adminToken ?? newSecret('adm_'),
    tokenSecret: existing.tokenSecret ?? newSecret('', 48),
    databasePassword: existing.databasePassword ?? newSecret('', 24),
  };
  if (JSON.stringify(existing) !== JSON.stringify(secrets)) {
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  }
  return secrets;
}
