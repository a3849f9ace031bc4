// The reward endpoint on the real broker: the reward node and group completion run on a
// KafkaRuntime (with the fake Vertex AI judges behind the real SDK), the HTTP server produces
// each request's rollouts through the Kafka exchange and answers with their reward records'
// totals and components.
import { Registry } from 'prom-client';
import { rewardTopics } from '../../connectors/reward-endpoint/reward-exchange';
import { rolloutsFromRequest } from '../../connectors/reward-endpoint/reward-request';
import { RewardServer } from '../../connectors/reward-endpoint/reward-server';
import { ensureTopics } from '../../runtime/kafka/kafka-admin';
import { kafkaRuntimeSchema } from '../../runtime/kafka/kafka-config';
import { KafkaRewardExchange } from '../../connectors/reward-endpoint/kafka-reward-exchange';
import { KafkaRuntime } from '../../runtime/kafka/kafka-runtime';
import { SerdeSet } from '../../runtime/serde/topic-serde';
import { deterministicId } from '../../core/ids';
import { silentLogger } from '../../core/logger';
import type { RewardGroup, RewardRecord } from '../../schemas/generated/types';
import { topicByName } from '../../topology/topology';
import { valorTopology } from '../../topology/valor-topology';
import { FakeGeminiServer } from '../fakes/fake-gemini-server';
import { readTopic, runId, testKafka, testRegistry, testTopicNames } from './services';
import { GOOD_ROLLOUT } from '../fixtures/records';

jest.setTimeout(300_000);

const GOOD = GOOD_ROLLOUT;
const NO_BOXES = `<plan>1. Ask about it.</plan><answer>\nfinal_answer = vqa(img_pth, None, "Is it there?")\n</answer>`;
const NO_ANSWER = '<plan>1. Look.</plan> It is on the left.';
const SCORE: Record<string, number> = { [GOOD]: 1, [NO_BOXES]: 0.8, [NO_ANSWER]: 0 };

const chat = (q: string) => `<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('reward endpoint on the real broker', () => {
  it('scores posted batches through the topics, groups one-sample requests across requests, answers 503 without a reward node and 502 for a dead-lettered rollout', async () => {
    const id = runId();
    const t = (k: string) => `it.${id}.${k}`;
    const judge = new FakeGeminiServer({
      oracle: (r) => (/spatial/i.test(r.text) && !/bbox/.test(r.text.split('Program')[1] ?? r.text) ? 'I cannot tell.' : 'Sound.\n<answer>1</answer>'),
      faults: { latencyMs: 20 },
    });
    const baseURL = await judge.start();
    process.env.VS_IT_REWARD_TOKEN = 'ya29.it-reward';
    const topology = valorTopology({
      partitions: 3,
      topics: testTopicNames(id),
      nodeConfig: {
        reward: {
          provider: { kind: 'gemini-vertex', project: 'it-project', baseURL, accessTokenEnv: 'VS_IT_REWARD_TOKEN' },
          limits: { timeoutMs: 5_000, backoff: { initialDelayMs: 10, maxDelayMs: 50 } },
          sandbox: { timeoutMs: 5_000, cpuSeconds: 2 },
        },
      },
    });
    const kafka = testKafka();
    const registry = testRegistry();
    await ensureTopics(kafka, topology);
    const serdes = new SerdeSet(registry, (x) => topicByName(topology, x).type);
    const group = `g.${id}`;
    let exchange: KafkaRewardExchange | undefined;
    let server: RewardServer | undefined;
    let grouped: RewardServer | undefined;
    let runtime: KafkaRuntime | undefined;
    let url = '';
    const post = async (body: unknown, requestId: string | null, to = url) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) };
      const res = await fetch(`${to}/get_reward`, { method: 'POST', headers, body: JSON.stringify(body) });
      return {
        status: res.status,
        body: (await res.json()) as { rewards?: number[]; scores?: number[]; extra_logs?: Record<string, number[]>; error?: string },
      };
    };
    try {
      exchange = await KafkaRewardExchange.start({
        kafka,
        serdes,
        topics: rewardTopics(topology),
        rewardGroupId: `${group}.reward`,
        groupCheckMs: 300,
        groupGraceMs: 1_000,
      });
      server = new RewardServer({ exchange, timeoutMs: 120_000, registry: new Registry() });
      url = await server.start();

      // No reward node consumes the rollouts yet: the endpoint says so instead of timing out.
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { reason: string }).reason).toContain(`consumer group '${group}.reward' has no members`);
      expect((await post({ query: ['x'] }, `${id}-early`)).status).toBe(503);

      runtime = new KafkaRuntime(topology, {
        kafka,
        registry,
        logger: silentLogger,
        only: ['reward', 'reward-group'],
        storeTopicPrefix: t('store.'),
        config: kafkaRuntimeSchema.parse({ groupPrefix: group }),
      });
      await runtime.start();
      await waitFor('the endpoint to see the reward node', async () => (await fetch(`${url}/healthz`)).status === 200);

      // Three prompts, four samples each, interleaved as a trainer might send them.
      const prompts = [chat('Is the mug left of the laptop?'), chat('Is the cup on the table?'), chat('Is the lamp above the desk?')];
      const responses = [GOOD, NO_BOXES, NO_ANSWER, GOOD, NO_ANSWER, GOOD, NO_BOXES, NO_BOXES, GOOD, GOOD, NO_ANSWER, NO_BOXES];
      const body = { query: responses.map((r, i) => prompts[i % 3] + r), prompts: responses.map((_, i) => prompts[i % 3]!), labels: responses.map(() => null) };
      const requestId = `${id}-batch`;
      const res = await post(body, requestId);
      expect(res.status).toBe(200);
      expect(res.body.rewards).toHaveLength(12);
      res.body.rewards!.forEach((r, i) => expect(r).toBeCloseTo(SCORE[responses[i]!]!, 9));
      expect(res.body.scores).toEqual(res.body.rewards);

      // The answer is exactly what the reward-records topic holds for those rollouts.
      const decoded = await Promise.all(
        (await readTopic(kafka, t('rw'), 12, 60_000)).map(async (m) => ({ key: m.key, value: await serdes.for<RewardRecord>(t('rw')).decode(m.value) })),
      );
      expect(decoded).toHaveLength(12);
      const byRollout = new Map(decoded.map((d) => [d.value.rolloutId, d]));
      const mine = rolloutsFromRequest(body, { requestId, now: 0 });
      expect(mine.map((m) => byRollout.get(m.id)?.value.total)).toEqual(res.body.rewards);
      // Grouped by prompt: one group id per prompt, group size 4, records keyed by it.
      expect(mine.map((m) => byRollout.get(m.id)!.value.groupSize)).toEqual(Array(12).fill(4));
      expect(new Set(mine.map((m) => m.groupId)).size).toBe(3);
      expect(mine.map((m) => byRollout.get(m.id)!.key)).toEqual(mine.map((m) => m.groupId));

      // Current OpenRLHF: one sample per request (prompt + response, the prompt, the label; no
      // request id), the samples of a prompt in flight together. An endpoint grouping across
      // requests (--group-size 4) makes them one complete group of four on reward-groups, and
      // answers each request with its own reward and components.
      grouped = new RewardServer({
        exchange,
        timeoutMs: 120_000,
        registry: new Registry(),
        grouping: { groupSize: 4, windowMs: 120_000, runId: `${id}-grouped` },
      });
      const groupedUrl = await grouped.start();
      const single = chat('Is the vase on the shelf?');
      const singles = [GOOD, NO_BOXES, NO_ANSWER, GOOD];
      const answers = await Promise.all(singles.map((r) => post({ query: [single + r], prompts: [single], labels: ['yes'] }, null, groupedUrl)));
      answers.forEach((a, i) => {
        expect(a.status).toBe(200);
        expect(a.body.rewards).toHaveLength(1);
        expect(a.body.rewards![0]).toBeCloseTo(SCORE[singles[i]!]!, 9);
        expect(a.body.scores).toEqual(a.body.rewards);
        expect(a.body.extra_logs!.format_ok).toEqual([singles[i] === NO_ANSWER ? 0 : 1]);
        expect(a.body.extra_logs!.spatial).toEqual([singles[i] === GOOD ? 1 : 0]);
        expect(Object.keys(a.body.extra_logs!).sort()).toEqual(['adherence', 'attributes', 'format_ok', 'logic', 'spatial', 'syntax']);
      });
      // The batch's three groups and this one: four complete groups on the topic.
      const groups = await Promise.all((await readTopic(kafka, t('rg'), 4, 60_000)).map(async (m) => serdes.for<RewardGroup>(t('rg')).decode(m.value)));
      const mineGroups = groups.filter((g) => g.questionId === deterministicId('q', single));
      expect(mineGroups).toHaveLength(1);
      expect(mineGroups[0]).toMatchObject({ groupSize: 4, partial: false });
      expect(mineGroups[0]!.members.map((m) => m.total).sort((a, b) => a - b)).toEqual([0, 0.8, 1, 1].map((x) => expect.closeTo(x, 9)));
      expect(groups.filter((g) => g.questionId !== deterministicId('q', single)).map((g) => [g.groupSize, g.partial])).toEqual(Array(3).fill([4, false]));

      // A rollout the pipeline gives up on fails the request at once, naming it.
      judge.faults.failNext(1000, 400);
      const t0 = Date.now();
      const doomed = await post({ query: [prompts[0] + GOOD], prompts: [prompts[0]] }, `${id}-doomed`);
      const [doomedId] = rolloutsFromRequest({ query: [prompts[0] + GOOD], prompts: [prompts[0]!] }, { requestId: `${id}-doomed`, now: 0 }).map((r) => r.id);
      expect(doomed.status).toBe(502);
      expect(doomed.body.error).toContain(`rollout ${doomedId} was dead-lettered by the pipeline: reward: `);
      expect(Date.now() - t0).toBeLessThan(60_000);
      judge.faults.reset();

      // The reward node goes away: after the grace period the endpoint says so again.
      await runtime.stop();
      runtime = undefined;
      await waitFor('the endpoint to see the reward node gone', async () => (await fetch(`${url}/healthz`)).status === 503);
      expect((await post({ query: ['x'] }, `${id}-late`)).status).toBe(503);
    } finally {
      await grouped?.close();
      await server?.close();
      await exchange?.close();
      await runtime?.stop();
      await judge.close();
    }
  });
});
