import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { isSecretKey, redactSecrets, registerConfigCommand } from './config';

describe('secret redaction', () => {
  it('recognises secret keys by their last word, not variable names or paths', () => {
    for (const k of ['password', 'apiKey', 'api_key', 'apikey', 'clientSecret', 'accessToken', 'token', 'secretAccessKey'])
      expect([k, isSecretKey(k)]).toEqual([k, true]);
    for (const k of ['apiKeyEnv', 'accessTokenEnv', 'tokenizerPath', 'maxOutputTokens', 'username', 'keepNegativeOnly', 'key']) {
      expect([k, isSecretKey(k)]).toEqual([k, false]);
    }
  });

  it('replaces string secrets and URL passwords only', () => {
    expect(redactSecrets({ a: [{ password: 'p', token: 5 }], url: 'https://u:pw@host/x', plain: 'https://host/a:b@c', apiKeyEnv: 'MY_KEY', n: null })).toEqual({
      a: [{ password: '[redacted]', token: 5 }],
      url: 'https://u:[redacted]@host/x',
      plain: 'https://host/a:b@c',
      apiKeyEnv: 'MY_KEY',
      n: null,
    });
  });
});

describe('config show', () => {
  const saved = { ...process.env };
  let logged: string[];
  beforeEach(() => {
    logged = [];
    jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logged.push(a.join(' ')));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...saved };
  });

  async function show(argv: string[]): Promise<Record<string, any>> {
    const program = new Command().exitOverride();
    registerConfigCommand(program);
    await program.parseAsync(['node', 'valor-stream', 'config', 'show', ...argv]);
    expect(logged).toHaveLength(1);
    return JSON.parse(logged[0]!);
  }

  it('prints defaults, file, environment and flags merged, with the images policy applied and secrets redacted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-show-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        kafka: { sasl: { mechanism: 'plain', username: 'svc', password: 'kafka-secret' } },
        registry: { username: 'reg', password: 'registry-secret' },
        images: { allowedRoots: [dir] },
        nodes: { verify: { provider: { kind: 'openai-responses', apiKeyEnv: 'MY_OPENAI_KEY' }, images: { maxBytes: 4096 } } },
      }),
    );
    process.env.KAFKA_BOOTSTRAP = 'broker-1:9092';
    delete process.env.SCHEMA_REGISTRY_PASSWORD;
    const c = await show(['-c', file, '--partitions', '7']);
    expect(c.partitions).toBe(7);
    expect(c.kafka).toMatchObject({ brokers: ['broker-1:9092'], sasl: { username: 'svc', password: '[redacted]' } });
    expect(c.registry).toMatchObject({ username: 'reg', password: '[redacted]' });
    expect(c.nodes.verify.provider.apiKeyEnv).toBe('MY_OPENAI_KEY');
    expect(c.nodes.verify.images).toMatchObject({ allowedRoots: [dir], maxBytes: 4096, timeoutMs: 10_000 });
    expect(c.nodes.detect.images).toMatchObject({ allowedRoots: [dir], maxBytes: 20 * 1024 * 1024 });
    expect(c.nodes.detect.tokenizerPath).toBe('weights/tokenizer.json');
    expect(c.sinks.odvg.images.allowedRoots).toEqual([dir]);
    expect(logged[0]).not.toMatch(/kafka-secret|registry-secret/);
  });

  it('shows the nodes of the topology chosen by flag', async () => {
    const c = await show(['--topology', 'passthrough']);
    expect(Object.keys(c.nodes)).toEqual(['passthrough']);
  });
});
