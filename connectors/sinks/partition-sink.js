"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.PartitionSink = void 0;
// One topic partition into shard files: skips what the finished files already hold, turns
// each record into a line through a SinkFormat, drops duplicates by signature, and hands
// bad records to the dead-letter callback without stopping. The files are the source of
// truth: a re-delivered record (after a crash or a retried batch) is recognised by its
// offset and written once.
const errors_1 = require("../../core/errors");
const shard_writer_1 = require("./shard-writer");
class PartitionSink {
    topic;
    partition;
    writer;
    format;
    deadLetter;
    logger;
    stats = { written: 0, duplicates: 0, skipped: 0, deadLettered: 0 };
    constructor(topic, partition, writer, format, deadLetter, logger) {
        this.topic = topic;
        this.partition = partition;
        this.writer = writer;
        this.format = format;
        this.deadLetter = deadLetter;
        this.logger = logger;
    }
    static async open(opts) {
        const writer = await shard_writer_1.PartitionShardWriter.open({ storage: opts.storage, dir: opts.dir, topic: opts.topic, partition: opts.partition, logger: opts.logger, ...opts.rotation });
        const sink = new PartitionSink(opts.topic, opts.partition, writer, opts.format, opts.deadLetter, opts.logger);
        if (writer.recovery.resumeOffset !== null)
            sink.nextOffset = BigInt(writer.recovery.resumeOffset);
        opts.logger.info({ topic: opts.topic, partition: opts.partition, resumeOffset: writer.recovery.resumeOffset, shards: writer.recovery.shards.length }, 'sink partition recovered from its files');
        return sink;
    }
    /** The first offset the files do not hold yet (null: nothing written, start anywhere). */
    get resumeOffset() {
        return this.writer.recovery.resumeOffset;
    }
    /** The next offset to write; records below it are in the files (or the open shard) already. */
    nextOffset = -1n;
    /**
     * Writes records in offset order. Retriable failures (e.g. the label registry is out of
     * reach) throw, and the caller re-delivers the batch: offsets already written are skipped.
     */
    async handle(records) {
        const closed = [];
        for (const r of records) {
            const note = (c) => {
                closed.push(...c);
                this.nextOffset = BigInt(r.offset) + 1n;
            };
            if (BigInt(r.offset) < this.nextOffset)
                continue;
            let out = null;
            let failed = r.error;
            if (failed === undefined) {
                try {
                    out = await this.format.format(r.value, { topic: this.topic, partition: this.partition, offset: r.offset });
                }
                catch (err) {
                    if ((0, errors_1.isRetriable)(err))
                        throw err;
                    failed = err;
                }
            }
            if (failed !== undefined) {
                await this.deadLetter(r, failed);
                this.stats.deadLettered++;
                note(await this.writer.skip(r.offset, r.timestamp));
            }
            else if (!out) {
                this.stats.skipped++;
                note(await this.writer.skip(r.offset, r.timestamp));
            }
            else if (out.signature && this.writer.signatures.has(out.signature)) {
                this.stats.duplicates++;
                note(await this.writer.skip(r.offset, r.timestamp));
            }
            else {
                this.stats.written++;
                note(await this.writer.append(r.offset, out.line, r.timestamp, { signature: out.signature, versions: out.versions }));
            }
        }
        if (closed.length)
            await this.format.onShardsClosed?.(closed);
        return closed;
    }
    /** Publishes the open shard (graceful stop). */
    async close() {
        const s = await this.writer.close();
        if (s)
            await this.format.onShardsClosed?.([s]);
        return s;
    }
    /** Drops the open shard without publishing it (the partition moved to another instance). */
    async abort() {
        await this.writer.abort();
        this.logger.info({ topic: this.topic, partition: this.partition }, 'sink partition released; its open shard was discarded');
    }
}
exports.PartitionSink = PartitionSink;
//# sourceMappingURL=partition-sink.js.map