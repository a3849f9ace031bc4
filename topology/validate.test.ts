import { TopologyError } from '../core/errors';
import { lookupProcessor } from '../processors';
import { describeMermaid, describeText } from './describe';
import { nodesDownstreamOf, type Topology } from './topology';
import { passthroughTopology, valorTopology } from './valor-topology';
import { validateTopology } from './validate';

function problems(t: Topology): string[] {
  try {
    validateTopology(t, lookupProcessor);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    return (e as TopologyError).problems;
  }
}

describe('validateTopology', () => {
  it('accepts the shipped topologies', () => {
    expect(problems(valorTopology())).toEqual([]);
    expect(problems(passthroughTopology())).toEqual([]);
  });

  it('rejects a type mismatch between a processor and its input topic', () => {
    const t = valorTopology();
    t.nodes[0]!.input = 'valor.pseudo-labels';
    expect(problems(t).join('\n')).toMatch(/node 'plan' \(plan\) reads ImageQuery but topic 'valor.pseudo-labels' carries PseudoLabel/);
  });

  it('rejects a port wired to a topic of another type', () => {
    const t = valorTopology();
    t.nodes[0]!.outputs.requests = 'valor.reward-groups';
    expect(problems(t).join('\n')).toMatch(/port 'requests' writes DetectionRequest but topic 'valor.reward-groups' carries RewardGroup/);
  });

  it('rejects dangling topics, unknown processors, unwired and unknown ports', () => {
    const t = passthroughTopology();
    t.topics[0]!.source = false; // nothing writes the input any more
    t.topics.push({ name: 'orphan', type: 'ImageQuery', partitions: 1 });
    t.nodes.push({ name: 'x', processor: 'nope', input: 'orphan', outputs: {} });
    t.nodes[0]!.outputs = { wrong: 'valor.image-queries-checked' };
    const p = problems(t).join('\n');
    expect(p).toMatch(/topic 'valor.image-queries' is read but nothing writes it/);
    expect(p).toMatch(/unknown processor 'nope'/);
    expect(p).toMatch(/leaves output port 'out'/);
    expect(p).toMatch(/wires port 'wrong'/);
    expect(p).toMatch(/topic 'orphan' is read but nothing writes it/);
  });

  it('names the bad config field of a node', () => {
    const t = valorTopology({ nodeConfig: { plan: { maxPhrasesPerCall: 0, typo: 1 } } });
    const p = problems(t).join('\n');
    expect(p).toMatch(/node 'plan' config\.maxPhrasesPerCall/);
    expect(p).toMatch(/typo/);
  });

  it('requires a DeadLetter-typed dead-letter topic', () => {
    const t = passthroughTopology();
    t.deadLetterTopic = 'valor.image-queries';
    expect(problems(t).join('\n')).toMatch(/carries ImageQuery, not DeadLetter/);
  });
});

describe('describe', () => {
  it('prints text and mermaid with every node and topic', () => {
    const t = valorTopology();
    const text = describeText(t, lookupProcessor);
    expect(text).toMatch(/plan \[plan\]/);
    expect(text).toMatch(/in: {2}valor.image-queries/);
    expect(text).toMatch(/out: requests -> valor.detection-requests/);
    const mm = describeMermaid(t);
    expect(mm.startsWith('flowchart LR')).toBe(true);
    for (const topic of t.topics) expect(mm).toContain(topic.name);
    expect(mm).toMatch(/n_plan -- requests --> t_valor_detection_requests/);
  });
});

describe('nodesDownstreamOf', () => {
  it('follows outputs to inputs and leaves the reward loop out of an image-query run', () => {
    const t = valorTopology();
    expect(nodesDownstreamOf(t, 'valor.image-queries')).toEqual(['plan', 'detect', 'verify']);
    expect(nodesDownstreamOf(t, 'valor.reasoning-rollouts')).toEqual(['reward', 'reward-group']);
    expect(nodesDownstreamOf(t, 'no-such-topic')).toEqual([]);
  });
});
