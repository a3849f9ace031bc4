import { DryRunReport, formatDryRun, formatReplay } from './replay';

describe('replay reports', () => {
  const dry: DryRunReport = {
    node: 'verify',
    input: 'valor.detector-proposals',
    group: 'valor.verify.replay.v2',
    tag: 'v2',
    partitions: [
      { partition: 0, start: 1, end: 5, records: 4 },
      { partition: 1, start: 2, end: 1200, records: 1190 },
    ],
    records: 1194,
    estimate: {
      records: 1194,
      calls: { cached: 25, certain: 6, expected: 52.6, min: 6, max: 53 },
      byStage: { COARSE: { cached: 3, certain: 6, expected: 6, min: 6, max: 6 } },
      usd: 0.0098,
      notes: ['a note'],
    },
  };

  it('the dry run lines up its partitions and says what is cached, certain and expected', () => {
    const text = formatDryRun(dry);
    expect(text).toContain('  partition  start   end  records\n          0      1     5        4\n          1      2  1200     1190');
    expect(text).toContain('records to reprocess: 1194');
    expect(text).toContain('provider calls: 53 expected (6 certain; 6-53 possible)');
    expect(text).toContain('dollars: $0.0098 expected');
    expect(text).toContain('note: a note');
    expect(formatDryRun({ ...dry, node: 'plan', estimate: null })).toContain('this node calls no model');
  });

  it('the replay report names the group, the offsets and the tag in lineage', () => {
    const text = formatReplay({
      node: 'verify',
      group: 'valor.verify.replay.v2',
      tag: 'v2',
      resumed: false,
      partitions: [{ partition: 0, start: 1, end: 5 }],
      processed: 4,
      emitted: 12,
      deadLettered: 0,
      providerCalls: 0,
      costUsd: 0,
    });
    expect(text).toMatch(/^replay 'v2' of verify done: group valor.verify.replay.v2, offsets 0:1-5\n/);
    expect(text).toContain('provider calls: 0, cost: $0.0000');
    expect(text).toContain('lineage.versions["replay.tag"] = "v2"');
  });
});
