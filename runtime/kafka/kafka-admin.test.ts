import { isTransient, retryTransient } from './kafka-admin';

const kafkaError = (message: string, type?: string, retriable = false) => Object.assign(new Error(message), { type, retriable });

describe('retryTransient', () => {
  it('treats the answers of a just-created topic as transient, whatever kafkajs says', () => {
    expect(isTransient(kafkaError('This server does not host this topic-partition', 'UNKNOWN_TOPIC_OR_PARTITION'))).toBe(true);
    expect(
      isTransient(kafkaError('There is no leader for this topic-partition as we are in the middle of a leadership election', 'LEADER_NOT_AVAILABLE')),
    ).toBe(true);
    expect(isTransient(kafkaError('Topic authorization failed', 'TOPIC_AUTHORIZATION_FAILED'))).toBe(false);
  });

  it('retries until the call succeeds', async () => {
    let calls = 0;
    const v = await retryTransient(
      'creating topic x',
      async () => {
        if (++calls < 3) throw kafkaError('This server does not host this topic-partition', 'UNKNOWN_TOPIC_OR_PARTITION');
        return 'ok';
      },
      30_000,
    );
    expect([v, calls]).toEqual(['ok', 3]);
  });

  it('gives up after its bound with an error that names what it was doing', async () => {
    await expect(
      retryTransient(
        'waiting for topic valor.labels to be ready',
        async () => {
          throw kafkaError('This server does not host this topic-partition', 'UNKNOWN_TOPIC_OR_PARTITION');
        },
        300,
      ),
    ).rejects.toThrow(/^waiting for topic valor\.labels to be ready: This server does not host this topic-partition \(still failing after 300 ms\)$/);
  });

  it('does not retry a permanent error', async () => {
    let calls = 0;
    await expect(
      retryTransient('creating topic x', async () => {
        calls++;
        throw kafkaError('Topic authorization failed', 'TOPIC_AUTHORIZATION_FAILED');
      }),
    ).rejects.toThrow('creating topic x: Topic authorization failed');
    expect(calls).toBe(1);
  });
});
