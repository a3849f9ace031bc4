import type { Command } from 'commander';
import { lookupProcessor } from '../../processors';
import { validateTopology } from '../../topology/validate';
import type { AppConfig } from '../config';
import { configFrom, topologyFrom, withCommon } from '../context';

const SECRET_WORDS = new Set(['password', 'passwd', 'secret', 'token', 'apikey', 'authorization', 'credentials']);

/**
 * Whether a key names a secret, by its last word: `password`, `clientSecret`, `apiKey`,
 * `accessToken`. `apiKeyEnv` and `accessTokenEnv` hold the NAME of a variable, and
 * `tokenizerPath` or `maxOutputTokens` no secret at all, so they are shown.
 */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter(Boolean);
  const last = words[words.length - 1] ?? '';
  return SECRET_WORDS.has(last) || (last === 'key' && words.some((w) => ['api', 'private', 'secret', 'access'].includes(w)));
}

/** A copy of `value` with every string under a secret key, and the password of any `user:pass@` URL, replaced. */
export function redactSecrets(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecrets(v, k)]));
  }
  if (typeof value !== 'string') return value;
  if (isSecretKey(key)) return '[redacted]';
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*):[^/@\s]*@/i, '$1:[redacted]@');
}

/** The config as the run would use it: node configs as their processors parse them, defaults included. */
export function effectiveConfig(config: AppConfig): Record<string, unknown> {
  const nodes = validateTopology(topologyFrom(config), lookupProcessor);
  return { ...config, nodes: Object.fromEntries(nodes) };
}

/** Adds `config show` to the program. */
export function registerConfigCommand(program: Command): Command {
  const cmd = program.command('config').description('inspect the configuration');
  withCommon(cmd.command('show'))
    .description('print the effective configuration (defaults, file, environment and flags merged) with secrets redacted')
    .action((opts) => {
      console.log(JSON.stringify(redactSecrets(effectiveConfig(configFrom(opts))), null, 2));
    });
  return cmd;
}
