"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.CORPUS_NODE = void 0;
exports.toImageQuery = toImageQuery;
exports.produceCorpus = produceCorpus;
const ids_1 = require("../../core/ids");
const lineage_1 = require("../../core/lineage");
const clock_1 = require("../../core/clock");
const corpus_reader_1 = require("./corpus-reader");
exports.CORPUS_NODE = 'corpus-source';
function toImageQuery(e, corpus, clock = clock_1.systemClock) {
    return {
        id: e.id,
        corpus,
        image: { uri: e.imageUri, bytes: e.imageBytes, sha256: null, width: null, height: null, mediaType: null },
        question: e.question,
        phrases: e.phrases,
        program: e.program,
        metadata: e.metadata,
        createdAt: clock.now(),
        lineage: (0, lineage_1.lineageOf)(exports.CORPUS_NODE, [], { corpus }),
    };
}
/**
 * Reads a corpus file or directory and writes each event as an ImageQuery keyed by its
 * id. A line that is not a valid event goes to the dead-letter topic with its file, line
 * number and raw text; the rest go on.
 */
async function produceCorpus(corpusPath, writer, topics, opts = {}) {
    const batchSize = opts.batchSize ?? 500;
    const clock = opts.clock ?? clock_1.systemClock;
    const corpus = opts.corpusName ?? 'corpus';
    let batch = [];
    const result = { produced: 0, deadLettered: 0 };
    let done = 0;
    const flush = async () => {
        if (!batch.length)
            return;
        await writer.write(topics.imageQueries, batch);
        result.produced += batch.length;
        batch = [];
    };
    for await (const item of (0, corpus_reader_1.readCorpus)(corpusPath, { corpusName: corpus })) {
        if (item.ok) {
            batch.push({ key: item.event.id, value: toImageQuery(item.event, corpus, clock) });
            if (batch.length >= batchSize)
                await flush();
        }
        else {
            const dl = {
                id: (0, ids_1.deterministicId)('dl', exports.CORPUS_NODE, item.file, item.line),
                node: exports.CORPUS_NODE,
                reason: item.error,
                errorClass: 'ValidationError',
                retriable: false,
                attempts: 1,
                source: { topic: `file:${item.file}`, partition: 0, offset: item.line, timestamp: clock.now(), key: null },
                payload: Buffer.from(item.raw, 'utf8'),
                failedAt: clock.now(),
            };
            await writer.write(topics.deadLetters, [{ key: `${item.file}:${item.line}`, value: dl }]);
            result.deadLettered++;
        }
        done++;
        if (done % 100 === 0)
            opts.onProgress?.(done);
    }
    await flush();
    opts.onProgress?.(done);
    return result;
}
//# sourceMappingURL=corpus-source.js.map