"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.runEmbeddedSink = runEmbeddedSink;
const dead_letter_1 = require("../runtime/dead-letter");
const partition_sink_1 = require("./partition-sink");
async function runEmbeddedSink(opts) {
    const { runtime, topic } = opts;
    const serde = runtime.serdes.for(topic);
    const totals = { written: 0, duplicates: 0, skipped: 0, deadLettered: 0, shards: 0 };
    for (let p = 0; p < runtime.log.partitions(topic); p++) {
        const sink = await partition_sink_1.PartitionSink.open({
            storage: opts.storage, dir: opts.shardDir, topic, partition: p, format: opts.format, rotation: opts.rotation, logger: opts.logger,
            deadLetter: async (r, err) => {
                const m = { topic, partition: p, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.raw };
                const dl = (0, dead_letter_1.deadLetterRecord)(`sink.${opts.format.name}`, m, err, 1, Date.now());
                opts.logger.warn({ topic, partition: p, offset: r.offset, reason: dl.reason }, 'record dead-lettered by the sink');
                await runtime.produce(runtime.topology.deadLetterTopic, [{ key: (0, dead_letter_1.deadLetterKey)(m), value: dl }]);
            },
        });
        const from = sink.resumeOffset === null ? 0 : Number(sink.resumeOffset);
        const records = [];
        for (const e of runtime.log.read(topic, p, from, Number.MAX_SAFE_INTEGER)) {
            const r = { offset: String(e.offset), timestamp: e.timestamp, key: e.key, raw: e.value };
            try {
                r.value = await serde.decode(e.value);
            }
            catch (err) {
                r.error = err;
            }
            records.push(r);
        }
        totals.shards += (await sink.handle(records)).length;
        if (await sink.close())
            totals.shards++;
        for (const k of ['written', 'duplicates', 'skipped', 'deadLettered'])
            totals[k] += sink.stats[k];
    }
    await opts.format.close?.();
    return totals;
}
//# sourceMappingURL=embedded-sink.js.map