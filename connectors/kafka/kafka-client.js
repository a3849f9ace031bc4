"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.createKafka = createKafka;
const kafkajs_1 = require("kafkajs");
/** A kafkajs client whose logs go through our logger (kafkajs logs to console otherwise). */
function createKafka(conn, logger) {
    const log = logger.child({ component: 'kafkajs' });
    return new kafkajs_1.Kafka({
        clientId: conn.clientId,
        brokers: conn.brokers,
        ssl: conn.ssl,
        sasl: conn.sasl,
        connectionTimeout: conn.connectionTimeoutMs,
        requestTimeout: conn.requestTimeoutMs,
        logLevel: kafkajs_1.logLevel.WARN,
        logCreator: () => ({ level, log: entry }) => {
            const { message, ...rest } = entry;
            // kafkajs logs every protocol error it is about to retry at ERROR (coordinator
            // loading, concurrent transactions...). Failures that matter reach our code as
            // exceptions and are logged there, so these stay warnings.
            if (level <= kafkajs_1.logLevel.WARN)
                log.warn(rest, message);
            else
                log.debug(rest, message);
        },
    });
}
//# sourceMappingURL=kafka-client.js.map