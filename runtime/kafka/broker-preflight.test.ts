import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { registerProduceCommand } from '../../cli/commands/produce';
import { ENV_OVERRIDES } from '../../cli/config';
import { ConfigError } from '../../core/errors';
import { BOOTSTRAP_ENV, BrokerUnreachableError, brokerSource, checkBrokerReachable } from './broker-preflight';
import { isRetryNoise } from './kafka-client';

const REPO = path.resolve(__dirname, '../..');
// Generous bounds: the issue asks for an answer within 5 s, but a busy 2-core machine can be
// several times slower; these only catch the 6-16 s of kafkajs retries coming back.
const PREFLIGHT_BOUND_MS = 20_000;
const CHILD_BOUND_MS = 90_000;

/** A port on 127.0.0.1 where nothing listens: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('checkBrokerReachable', () => {
  it('rejects a closed port quickly with one line naming the address, its source and the hint', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const source = brokerSource(undefined, { KAFKA_BOOTSTRAP: address });
    const t0 = Date.now();
    const err = await checkBrokerReachable({ brokers: [address] }, source).then(
      () => null,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - t0;
    expect(err).toBeInstanceOf(BrokerUnreachableError);
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toBe(
      `cannot reach Kafka at ${address} (connection refused); brokers from the KAFKA_BOOTSTRAP environment variable; start a local broker with \`make kafka-up\``,
    );
    expect(message).not.toContain('\n');
    expect((err as BrokerUnreachableError).brokers).toEqual([address]);
    expect(elapsed).toBeLessThan(PREFLIGHT_BOUND_MS);
  });

  it('resolves when one bootstrap address answers', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const open = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      await expect(checkBrokerReachable({ brokers: [`127.0.0.1:${await closedPort()}`, open] }, 'test')).resolves.toBeUndefined();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('names every address with its reason, and gives a remote-broker hint for non-local addresses', async () => {
    const closed = `127.0.0.1:${await closedPort()}`;
    // .invalid never resolves (RFC 2606); without DNS at all the lookup may time out instead.
    const err = (await checkBrokerReachable({ brokers: [closed, 'broker.invalid:9092'] }, 'config key kafka.brokers in c.json', { timeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toMatch(
      new RegExp(
        `^cannot reach Kafka at ${closed} \\(connection refused\\), broker\\.invalid:9092 \\((host not found|timed out after 2000 ms)\\); brokers from config key kafka\\.brokers in c\\.json; check the address and that the broker is up$`,
      ),
    );
  });

  it('reports a port out of range instead of throwing from node:net', async () => {
    await expect(checkBrokerReachable({ brokers: ['127.0.0.1:99999'] }, 'test')).rejects.toThrow(/127\.0\.0\.1:99999 \(not an address: .*\)/);
  });
});

describe('brokerSource', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-source-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('follows loadConfig: the environment variable, else the config file, else the default', () => {
    const withBrokers = path.join(dir, 'with.json');
    const without = path.join(dir, 'without.json');
    fs.writeFileSync(withBrokers, JSON.stringify({ kafka: { brokers: ['k:9092'] } }));
    fs.writeFileSync(without, JSON.stringify({ partitions: 2 }));
    expect(brokerSource(withBrokers, { KAFKA_BOOTSTRAP: 'h:1' })).toBe('the KAFKA_BOOTSTRAP environment variable');
    expect(brokerSource(withBrokers, { KAFKA_BOOTSTRAP: '' })).toBe(`config key kafka.brokers in ${withBrokers}`);
    expect(brokerSource(without, {})).toMatch(/^the default \(/);
    expect(brokerSource(path.join(dir, 'missing.json'), {})).toMatch(/^the default \(/);
    expect(brokerSource(undefined, {})).toBe('the default (neither KAFKA_BOOTSTRAP nor kafka.brokers in a config file is set)');
  });

  it('names the variable the config loader reads into kafka.brokers', () => {
    expect(ENV_OVERRIDES[BOOTSTRAP_ENV]?.path).toEqual(['kafka', 'brokers']);
  });
});

describe('kafkajs retry noise', () => {
  it('is each failed connect and each entry announcing a retry, not other warnings', () => {
    expect(isRetryNoise({ namespace: 'Connection', log: { message: 'Connection error: connect ECONNREFUSED 127.0.0.1:1' } })).toBe(true);
    expect(isRetryNoise({ namespace: 'Connection', log: { message: 'Connection timeout' } })).toBe(true);
    expect(isRetryNoise({ namespace: 'BrokerPool', log: { message: 'Failed to connect to seed broker, trying another broker', retryTime: 300 } })).toBe(true);
    expect(isRetryNoise({ namespace: 'Consumer', log: { message: 'Crash: KafkaJSNumberOfRetriesExceeded' } })).toBe(false);
    expect(isRetryNoise({ namespace: 'Connection', log: { message: 'Response Produce(key: 0, version: 7)' } })).toBe(false);
    expect(isRetryNoise({ namespace: 'ConsumerGroup', log: { message: 'The group is rebalancing, re-joining' } })).toBe(false);
  });
});

// The CLI as a user runs it: bin/valor-stream.js (its own error printing), but on the
// TypeScript sources through a require hook, so no build is needed and dist/ is never stale.
const CHILD = `
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const ts = require('typescript');
const repo = process.argv[1];
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
  });
  module._compile(out.outputText, filename);
};
const distMain = path.join(repo, 'dist', 'cli', 'main.js');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === distMain ? path.join(repo, 'cli', 'main.ts') : resolve.call(this, request, ...rest);
};
const exists = fs.existsSync;
fs.existsSync = (p) => p === distMain || exists(p);
process.argv = [process.argv0, path.join(repo, 'bin', 'valor-stream.js'), ...process.argv.slice(2)];
require(path.join(repo, 'bin', 'valor-stream.js'));
`;

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['-e', CHILD, REPO, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const bound = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`valor-stream ${args.join(' ')} did not exit within ${CHILD_BOUND_MS} ms; stderr: ${stderr}`));
    }, CHILD_BOUND_MS);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(bound);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(bound);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

describe('Kafka commands without a broker', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'no-broker-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sink odvg exits non-zero with one line naming the address and KAFKA_BOOTSTRAP, and no kafkajs output', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const env: NodeJS.ProcessEnv = { ...process.env, KAFKA_BOOTSTRAP: address };
    delete env.VALOR_LOG_LEVEL; // the default level
    const r = await runCli(['sink', 'odvg', '--out', path.join(dir, 'odvg'), '--stop-at-end'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `cannot reach Kafka at ${address} (connection refused); brokers from the KAFKA_BOOTSTRAP environment variable; start a local broker with \`make kafka-up\`\n`,
    );
    expect(r.stdout).toBe('');
    expect(fs.existsSync(path.join(dir, 'odvg'))).toBe(false); // nothing was started
  });

  it('produce names the config file its brokers came from (in process: one spawn per suite is enough)', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ kafka: { brokers: [address] } }));
    fs.writeFileSync(path.join(dir, 'c.jsonl'), JSON.stringify({ image: 'a.png', question: 'Q?' }) + '\n');
    const saved = process.env.KAFKA_BOOTSTRAP; // set under `make test`; it would win over the file
    delete process.env.KAFKA_BOOTSTRAP;
    try {
      const program = new Command('valor-stream').exitOverride();
      registerProduceCommand(program);
      const t0 = Date.now();
      await expect(program.parseAsync(['produce', '-c', config, '--corpus', path.join(dir, 'c.jsonl')], { from: 'user' })).rejects.toThrow(
        `cannot reach Kafka at ${address} (connection refused); brokers from config key kafka.brokers in ${config}; start a local broker with \`make kafka-up\``,
      );
      expect(Date.now() - t0).toBeLessThan(PREFLIGHT_BOUND_MS);
    } finally {
      if (saved === undefined) delete process.env.KAFKA_BOOTSTRAP;
      else process.env.KAFKA_BOOTSTRAP = saved;
    }
  });
});
