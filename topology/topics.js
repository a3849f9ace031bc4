"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.topicNamesSchema = exports.DEFAULT_TOPIC_NAMES = void 0;
exports.resolveTopicNames = resolveTopicNames;
const zod_1 = require("zod");
/** Default topic names; every one can be renamed in config (`topics.<key>`). */
exports.DEFAULT_TOPIC_NAMES = {
    imageQueries: 'valor.image-queries',
    detectionRequests: 'valor.detection-requests',
    detectorProposals: 'valor.detector-proposals',
    verifierJudgements: 'valor.verifier-judgements',
    pseudoLabels: 'valor.pseudo-labels',
    reasoningRollouts: 'valor.reasoning-rollouts',
    rewardRecords: 'valor.reward-records',
    rewardGroups: 'valor.reward-groups',
    deadLetters: 'valor.dead-letters',
};
const topicName = zod_1.z
    .string()
    .regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name: 1-249 of [a-zA-Z0-9._-]');
exports.topicNamesSchema = zod_1.z
    .object(Object.fromEntries(Object.keys(exports.DEFAULT_TOPIC_NAMES).map((k) => [k, topicName.optional()])))
    .strict()
    .default({});
function resolveTopicNames(overrides = {}) {
    return { ...exports.DEFAULT_TOPIC_NAMES, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v)) };
}
//# sourceMappingURL=topics.js.map