import { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import * as net from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import { loadConfig } from '../config';
import { silentLogger } from '../../core/logger';
import type { Batch, TrainingConsumerOptions } from '../../connectors/online/training-consumer';
import { MemoryRegistry } from '../../runtime/registry/memory-registry';
import { formatBatchLine, pipeBatches, registerConsumeCommand, typeOfTopic } from './consume';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Batches whose acks are recorded in `events` next to the writes. */
function fakeBatches(values: unknown[][], events: string[]): Array<Batch<unknown>> {
  return values.map((vs, i) => ({
    seq: i + 1,
    records: vs.map((value, j) => ({ value, topic: 't', partition: 0, offset: String(j), key: null, timestamp: '0' })),
    ack: async () => void events.push(`ack ${i + 1}`),
  }));
}

async function* from<T>(items: T[]): AsyncGenerator<T> {
  for (const x of items) yield x;
}

/** A sink whose write callback fires only after `delayMs`, like a pipe the reader is slow to drain. */
function slowSink(events: string[], delayMs: number): Writable {
  return new Writable({
    highWaterMark: 1,
    write(chunk, _enc, cb) {
      events.push(`write ${JSON.parse(chunk.toString()).batch}`);
      setTimeout(() => {
        events.push(`flushed ${JSON.parse(chunk.toString()).batch}`);
        cb();
      }, delayMs);
    },
  });
}

describe('formatBatchLine', () => {
  it('writes one JSON line per batch with Buffers as base64', () => {
    const line = formatBatchLine(3, [
      { id: 'a', image: { bytes: Buffer.from('png\nbytes'), uri: null }, boxes: [{ x1: 1.5 }] },
      { id: 'b', raw: new Uint8Array([1, 2, 3]), big: 2n ** 70n, list: [Buffer.from([255])] },
    ]);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      batch: 3,
      records: [
        { id: 'a', image: { bytes: Buffer.from('png\nbytes').toString('base64'), uri: null }, boxes: [{ x1: 1.5 }] },
        { id: 'b', raw: 'AQID', big: '1180591620717411303424', list: ['/w=='] },
      ],
    });
  });
});

describe('pipeBatches', () => {
  it('acks each batch only after its line is written, with one line in flight', async () => {
    const events: string[] = [];
    const r = await pipeBatches(from(fakeBatches([[{ n: 1 }], [{ n: 2 }, { n: 3 }]], events)), slowSink(events, 20));
    expect(events).toEqual(['write 1', 'flushed 1', 'ack 1', 'write 2', 'flushed 2', 'ack 2']);
    expect(r).toEqual({ batches: 2, records: 3 });
  });

  it('stops after maxBatches without touching the rest', async () => {
    const events: string[] = [];
    const r = await pipeBatches(from(fakeBatches([[1], [2], [3]], events)), slowSink(events, 1), { maxBatches: 2 });
    expect(r.batches).toBe(2);
    expect(events.filter((e) => e.startsWith('ack'))).toEqual(['ack 1', 'ack 2']);
  });

  it('does not ack a batch whose line could not be written (reader gone)', async () => {
    const events: string[] = [];
    const broken = new Writable({
      write(_c, _e, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    await expect(pipeBatches(from(fakeBatches([[1], [2]], events)), broken)).rejects.toMatchObject({ code: 'EPIPE' });
    expect(events).toEqual([]);
  });

  it('with acks from the reader, waits for the batch number before acking', async () => {
    const events: string[] = [];
    const acks = new PassThrough();
    const lines = (async function* () {
      let buf = '';
      for await (const chunk of acks) {
        buf += chunk.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          yield buf.slice(0, i);
          buf = buf.slice(i + 1);
        }
      }
    })();
    const done = pipeBatches(from(fakeBatches([[1], [2]], events)), slowSink(events, 1), { acks: lines });
    await sleep(30);
    expect(events).toEqual(['write 1', 'flushed 1']); // written, not yet trained on
    acks.write('1\n');
    await sleep(30);
    expect(events).toEqual(['write 1', 'flushed 1', 'ack 1', 'write 2', 'flushed 2']);
    acks.write('7\n');
    await expect(done).rejects.toThrow(/expected the acknowledgement '2' on stdin, got '7'/);
    expect(events).not.toContain('ack 2');
  });
});

describe('typeOfTopic', () => {
  it('knows the configured pseudo-label and reward-group topics and asks for --type otherwise', () => {
    const config = loadConfig({ env: {}, overrides: [[['topics', 'rewardGroups'], 'my.groups']] });
    expect(typeOfTopic('valor.pseudo-labels', undefined, config)).toBe('PseudoLabel');
    expect(typeOfTopic('my.groups', undefined, config)).toBe('RewardGroup');
    expect(typeOfTopic('other', 'RewardGroup', config)).toBe('RewardGroup');
    expect(() => typeOfTopic('other', undefined, config)).toThrow(
      /cannot tell the record type of topic 'other': pass --type PseudoLabel or --type RewardGroup/,
    );
  });
});

describe('valor-stream consume', () => {
  async function run(args: string[], batches: unknown[][] = [[{ accepted: [1] }]]) {
    const seen: Array<TrainingConsumerOptions<unknown>> = [];
    const events: string[] = [];
    let closed = false;
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (d) => (text += d.toString()));
    const program = new Command('valor-stream').exitOverride().configureOutput({ writeErr: () => undefined });
    registerConsumeCommand(program, {
      configFrom: () => loadConfig({ env: {} }),
      registryFrom: () => new MemoryRegistry(),
      kafkaFrom: () => ({}) as Kafka,
      preflight: async () => undefined,
      consumerFrom: (o) => {
        seen.push(o);
        return { batches: () => from(fakeBatches(batches, events)), close: async () => void (closed = true) };
      },
      stdout,
      logger: silentLogger,
      handleSignals: false,
    });
    await program.parseAsync(['consume', ...args], { from: 'user' });
    return { options: seen[0]!, events, text, closed };
  }

  it('maps its flags to the consumer and prints the batches', async () => {
    const r = await run(
      ['--topic', 'valor.pseudo-labels', '--batch-size', '8', '--max-wait-ms', '250', '--from-beginning', '--skip-negative-only'],
      [[{ accepted: [1] }], [{ accepted: [2] }]],
    );
    expect(r.options).toMatchObject({
      topic: 'valor.pseudo-labels',
      type: 'PseudoLabel',
      groupId: 'valor.consume.valor.pseudo-labels',
      batchSize: 8,
      maxWaitMs: 250,
      maxUnacked: 1,
      fromBeginning: true,
    });
    expect(r.options.filter!({ accepted: [] }, { topic: 't', partition: 0, offset: '0', key: null })).toBe(false);
    expect(r.options.filter!({ accepted: [{}] }, { topic: 't', partition: 0, offset: '0', key: null })).toBe(true);
    expect(r.text).toBe('{"batch":1,"records":[{"accepted":[1]}]}\n{"batch":2,"records":[{"accepted":[2]}]}\n');
    expect(r.events).toEqual(['ack 1', 'ack 2']);
    expect(r.closed).toBe(true);
  });

  it('starts a new group at the end unless --from-beginning, and takes --group and --type', async () => {
    const r = await run(['--topic', 'x.groups', '--type', 'RewardGroup', '--group', 'grpo-trainer', '--max-batches', '1']);
    expect(r.options).toMatchObject({ type: 'RewardGroup', groupId: 'grpo-trainer', fromBeginning: false, batchSize: 32, filter: undefined });
  });

  it('refuses bad flags with the flag named', async () => {
    await expect(run(['--topic', 'valor.pseudo-labels', '--batch-size', '0'])).rejects.toThrow(/--batch-size must be an integer >= 1, got '0'/);
    await expect(run(['--topic', 'valor.pseudo-labels', '--max-batches', 'lots'])).rejects.toThrow(/--max-batches must be an integer >= 1, got 'lots'/);
    await expect(run(['--topic', 'nope'])).rejects.toThrow(/cannot tell the record type of topic 'nope'/);
    await expect(run(['--topic', 'valor.reward-groups', '--skip-negative-only'])).rejects.toThrow(
      /--skip-negative-only applies to PseudoLabel records, not RewardGroup/,
    );
    await expect(run(['--topic', 'valor.pseudo-labels', '--type', 'ImageQuery'])).rejects.toThrow(/Allowed choices are PseudoLabel, RewardGroup/);
  });

  it('ends quietly when the reader stops acknowledging (stdin closed)', async () => {
    const program = new Command('valor-stream').exitOverride();
    const events: string[] = [];
    registerConsumeCommand(program, {
      configFrom: () => loadConfig({ env: {} }),
      registryFrom: () => new MemoryRegistry(),
      kafkaFrom: () => ({}) as Kafka,
      preflight: async () => undefined,
      consumerFrom: () => ({ batches: () => from(fakeBatches([[1], [2]], events)), close: async () => undefined }),
      stdout: new PassThrough(),
      stdin: Readable.from(['1\n']),
      logger: silentLogger,
      handleSignals: false,
    });
    await program.parseAsync(['consume', '--topic', 'valor.pseudo-labels', '--ack-stdin'], { from: 'user' });
    expect(events).toEqual(['ack 1']);
  });

  it('checks the broker before making any Kafka client, and says where its address came from', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    await new Promise<void>((resolve) => server.close(() => resolve())); // now nothing listens there
    const saved = process.env.KAFKA_BOOTSTRAP;
    process.env.KAFKA_BOOTSTRAP = address;
    let clients = 0;
    try {
      const program = new Command('valor-stream').exitOverride();
      registerConsumeCommand(program, {
        registryFrom: () => new MemoryRegistry(),
        kafkaFrom: () => (clients++, {}) as Kafka,
        consumerFrom: () => ({ batches: () => from([]), close: async () => undefined }),
        stdout: new PassThrough(),
        logger: silentLogger,
        handleSignals: false,
      });
      await expect(program.parseAsync(['consume', '--topic', 'valor.pseudo-labels'], { from: 'user' })).rejects.toThrow(
        `cannot reach Kafka at ${address} (connection refused); brokers from the KAFKA_BOOTSTRAP environment variable; start a local broker with \`make kafka-up\``,
      );
      expect(clients).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.KAFKA_BOOTSTRAP;
      else process.env.KAFKA_BOOTSTRAP = saved;
    }
  });
});
