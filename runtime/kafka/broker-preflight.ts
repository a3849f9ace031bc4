// Before a Kafka command creates any kafkajs client: is anything listening at the bootstrap
// addresses? Without this, kafkajs retries for 6-16 s, logs each attempt, and ends with a
// bare "Connection error: connect ECONNREFUSED" that names neither the address nor where it
// was configured.
//
// A plain TCP connect (node:net), not a kafkajs admin connect with retries: 0: it is bounded
// by one timer we own, opens no client that could leak, logs nothing, and gives a reason per
// address. It does not prove the listener speaks Kafka, TLS or SASL; kafkajs reports those
// problems itself once connected. One reachable address is enough, as for kafkajs's seed.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ConfigError } from '../../core/errors';
import type { KafkaConnection } from './kafka-config';

/** Well below the 5 s a user waits for a "no broker" answer, well above a LAN handshake. */
export const PREFLIGHT_TIMEOUT_MS = 3_000;

/** The variable cli/config.ts's ENV_OVERRIDES reads into kafka.brokers (a test keeps them in step). */
export const BOOTSTRAP_ENV = 'KAFKA_BOOTSTRAP';

/** No broker answered at any bootstrap address; the message is one line that says where the addresses came from. */
export class BrokerUnreachableError extends ConfigError {
  constructor(
    message: string,
    readonly brokers: readonly string[],
    readonly source: string,
  ) {
    super(message);
  }
}

/**
 * Where kafka.brokers came from, in words, with the precedence of cli/config.ts's
 * loadConfig: the KAFKA_BOOTSTRAP environment variable, else the config file's
 * kafka.brokers, else the default.
 */
export function brokerSource(configFile?: string, env: NodeJS.ProcessEnv = process.env): string {
  // loadConfig skips an empty variable too.
  if (env[BOOTSTRAP_ENV]) return `the ${BOOTSTRAP_ENV} environment variable`;
  if (configFile) {
    try {
      const raw = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { kafka?: { brokers?: unknown } } | null;
      if (raw?.kafka?.brokers !== undefined) return `config key kafka.brokers in ${configFile}`;
    } catch {
      // An unreadable file failed loadConfig already; here it only means "not from the file".
    }
  }
  return `the default (neither ${BOOTSTRAP_ENV} nor kafka.brokers in a config file is set)`;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)$/i;

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

function reasonOf(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return err.code ?? err.message;
  }
}

/** Resolves null once `address` accepts a TCP connection, else the reason; the socket is always destroyed. */
function probe(address: string, timeoutMs: number, settled: Promise<void>): Promise<string | null> {
  return new Promise((resolve) => {
    const { host, port } = splitAddress(address);
    const socket = new net.Socket();
    try {
      socket.connect({ host, port });
    } catch (err) {
      socket.destroy(); // connect may throw (a port over 65535) after opening its handle
      resolve(`not an address: ${(err as Error).message}`);
      return;
    }
    const done = (reason: string | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    // Covers the DNS lookup as well as the handshake, which socket.setTimeout does not.
    const timer = setTimeout(() => done(`timed out after ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(reasonOf(err)));
    // Another address answered: stop waiting for this one.
    void settled.then(() => done('not needed'));
  });
}

/**
 * Resolves once one of `kafka.brokers` accepts a TCP connection; otherwise, within about
 * `timeoutMs`, rejects with a BrokerUnreachableError whose one-line message names each
 * address with its reason, `source` (see brokerSource) and what to do, e.g.
 * `cannot reach Kafka at 127.0.0.1:39092 (connection refused); brokers from the default
 * (...); start a local broker with \`make kafka-up\``.
 */
export async function checkBrokerReachable(kafka: Pick<KafkaConnection, 'brokers'>, source: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? PREFLIGHT_TIMEOUT_MS;
  const brokers = kafka.brokers;
  let release!: () => void;
  const settled = new Promise<void>((r) => (release = r));
  const reasons = await Promise.all(
    brokers.map((b) =>
      probe(b, timeoutMs, settled).then((reason) => {
        if (reason === null) release(); // the other probes close their sockets now
        return reason;
      }),
    ),
  );
  release();
  if (reasons.some((r) => r === null)) return;
  const where = brokers.map((b, i) => `${b} (${reasons[i]})`).join(', ');
  const local = brokers.length > 0 && brokers.every((b) => LOOPBACK.test(splitAddress(b).host));
  const hint = local ? 'start a local broker with `make kafka-up`' : 'check the address and that the broker is up';
  throw new BrokerUnreachableError(`cannot reach Kafka at ${where || '(no brokers configured)'}; brokers from ${source}; ${hint}`, brokers, source);
}
