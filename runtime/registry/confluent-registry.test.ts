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

  beforeAll(async () => {
    server = http.createServer((_req, res) => void held.push(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('fails a registration after its timeout, naming the registry', async () => {
    const registry = new ConfluentRegistry(url, undefined, 300);
    await expect(registry.register('t-value', loadSchema('ImageQuery'))).rejects.toThrow(/did not answer within 300 ms/);
  });

  it('fails a schema lookup (decoding a record) after its timeout, as a network error that is retried', async () => {
    const registry = new ConfluentRegistry(url, undefined, 300);
    const framed = Buffer.from([0, 0, 0, 0, 7, 2]);
    await expect(registry.decode(framed, loadSchema('ImageQuery'))).rejects.toMatchObject({
      message: expect.stringMatching(/did not answer within 300 ms \(schema 7\)/),
      code: 'ETIMEDOUT',
    });
  });

  it('makes a record that could not be decoded for that reason retriable, not a dead letter', async () => {
    const serde = new TopicSerde('t', 'ImageQuery', new ConfluentRegistry(url, undefined, 300));
    await expect(serde.decode(Buffer.from([0, 0, 0, 0, 7, 2]))).rejects.toMatchObject({ retriable: true });
  });
});
