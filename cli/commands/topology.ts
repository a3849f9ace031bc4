import { Command, Option } from 'commander';
import { lookupProcessor } from '../../processors';
import { validateTopology } from '../../topology/validate';
import { describeMermaid, describeText } from '../../topology/describe';
import { configFrom, topologyFrom, withCommon } from '../context';

/** Adds `topology describe` and `topology validate` to the program. */
export function registerTopologyCommand(program: Command): Command {
  const topo = program.command('topology').description('inspect the topology without running it');
  withCommon(topo.command('describe'))
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'mermaid']).default('text'))
    .action((opts) => {
      const config = configFrom(opts);
      const t = topologyFrom(config);
      validateTopology(t, lookupProcessor);
      process.stdout.write(opts.format === 'mermaid' ? describeMermaid(t) : describeText(t, lookupProcessor));
    });
  withCommon(topo.command('validate')).action((opts) => {
    const t = topologyFrom(configFrom(opts));
    validateTopology(t, lookupProcessor);
    console.log(`topology ${t.name}: ${t.nodes.length} node(s), ${t.topics.length} topic(s): valid`);
  });
  return topo;
}
