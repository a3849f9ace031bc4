import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadSchema } from '../../schemas/catalog';
import { TopicSerde } from '../serde/topic-serde';
import { ConfluentRegistry } from './confluent-registry';

// A registry that takes the connection and never answers: every call must fail in bounded
// time rather than hang the node or writer that made it.
describe('ConfluentRegistry against a registry that never answers', () => {
  let server: http.Server;
  let url: string;
  const held: http.ServerResponse[] = [];
  /** Requests from this many on are answered (a registry that sat on some and recovered). */
  let answerFrom = Infinity;
  let requests = 0;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      if (++requests >= answerFrom) res.writeHead(200, { 'content-type': 'application/json' }).end('{"compatibility":"BACKWARD"}');
      else held.push(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('tries a registration again after its timeout, then fails naming the registry and the call', async () => {
    const registry = new ConfluentRegistry(url, undefined, 300, 2);
    const before = held.length;
    await expect(registry.register('t-value', loadSchema('ImageQuery'))).rejects.toThrow(
      `schema registry ${url} did not answer within 300 ms, 2 attempts (setting compatibility of 't-value')`,
    );
    expect(held.length - before).toBe(2);
  });

  it('goes through when a later attempt is answered', async () => {
    answerFrom = requests + 2;
    try {
      await expect(new ConfluentRegistry(url, undefined, 300, 3).putCompatibility('t-value', 'BACKWARD')).resolves.toBeUndefined();
    } finally {
      answerFrom = Infinity;
    }
  });

  it('fails a schema lookup (decoding a record) after its timeout, as a network error that is retried', async () => {
    const registry = new ConfluentRegistry(url, undefined, 300);
    const framed = Buffer.from([0, 0, 0, 0, 7, 2]);
    await expect(registry.decode(framed, loadSchema('ImageQuery'))).rejects.toMatchObject({
      message: expect.stringMatching(/did not answer within 300 ms, 3 attempts \(schema 7\)/),
      code: 'ETIMEDOUT',
    });
  });

  it('makes a record that could not be decoded for that reason retriable, not a dead letter', async () => {
    const serde = new TopicSerde('t', 'ImageQuery', new ConfluentRegistry(url, undefined, 300));
    await expect(serde.decode(Buffer.from([0, 0, 0, 0, 7, 2]))).rejects.toMatchObject({ retriable: true });
  });
});
