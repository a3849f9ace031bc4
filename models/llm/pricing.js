"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.DEFAULT_PRICES = exports.priceTableSchema = exports.modelPriceSchema = void 0;
exports.withDefaultPrices = withDefaultPrices;
exports.priceFor = priceFor;
exports.costUsd = costUsd;
// What a call cost, from the token usage the API reports and a price table in USD per
// million tokens. The table is configuration (prices change); the defaults cover the
// models the topology uses out of the box.
const zod_1 = require("zod");
exports.modelPriceSchema = zod_1.z
    .object({
    inputPerMTokUsd: zod_1.z.number().min(0),
    outputPerMTokUsd: zod_1.z.number().min(0),
})
    .strict();
/** Model name -> price. Keys are the model names asked for (e.g. 'gpt-5-mini'). */
exports.priceTableSchema = zod_1.z.record(zod_1.z.string().min(1), exports.modelPriceSchema);
/** Standard (non-batch, non-cached) list prices. */
exports.DEFAULT_PRICES = Object.freeze({
    'gpt-5-mini': { inputPerMTokUsd: 0.25, outputPerMTokUsd: 2.0 },
    'gemini-2.5-flash': { inputPerMTokUsd: 0.3, outputPerMTokUsd: 2.5 },
});
/** The defaults with the configured entries on top (configured prices win). */
function withDefaultPrices(table) {
    return { ...exports.DEFAULT_PRICES, ...(table ?? {}) };
}
// A dated or numbered snapshot of an alias: gpt-5-mini-2025-08-07, gemini-2.5-flash-001.
// Only these suffixes fall back to the alias's price, so 'gpt-5-mini' never gets the
// price of 'gpt-5'.
const SNAPSHOT_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{3,})$/;
/**
 * The price of `model`: an exact key, else the last segment of a resource path
 * ('publishers/google/models/gemini-2.5-flash'), else the alias of a dated snapshot.
 * Undefined when the table has none of these.
 */
function priceFor(model, table = exports.DEFAULT_PRICES) {
    const own = (k) => (Object.prototype.hasOwnProperty.call(table, k) ? table[k] : undefined);
    const exact = own(model);
    if (exact)
        return exact;
    const name = model.slice(model.lastIndexOf('/') + 1);
    const bare = own(name);
    if (bare)
        return bare;
    for (const key of Object.keys(table)) {
        if (name.startsWith(key) && SNAPSHOT_SUFFIX.test(name.slice(key.length)))
            return table[key];
    }
    return undefined;
}
/** USD for one call's usage; 0 for a model the table does not price. */
function costUsd(model, usage, table = exports.DEFAULT_PRICES) {
    const price = priceFor(model, table);
    if (!price)
        return 0;
    return (usage.inputTokens * price.inputPerMTokUsd + usage.outputTokens * price.outputPerMTokUsd) / 1_000_000;
}
//# sourceMappingURL=pricing.js.map