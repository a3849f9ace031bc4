"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.KafkaRecordWriter = void 0;
const kafkajs_1 = require("kafkajs");
/** Writes typed records to Kafka with an idempotent producer (no duplicates on retry). */
class KafkaRecordWriter {
    kafka;
    serdes;
    producer;
    constructor(kafka, serdes) {
        this.kafka = kafka;
        this.serdes = serdes;
    }
    async write(topic, records) {
        if (!this.producer) {
            this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs_1.Partitioners.DefaultPartitioner });
            await this.producer.connect();
        }
        const serde = this.serdes.for(topic);
        const messages = await Promise.all(records.map(async (r) => ({ key: r.key, value: await serde.encode(r.value) })));
        await this.producer.send({ topic, messages, acks: -1 });
    }
    async close() {
        await this.producer?.disconnect();
    }
}
exports.KafkaRecordWriter = KafkaRecordWriter;
//# sourceMappingURL=kafka-record-writer.js.map