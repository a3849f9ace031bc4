"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.sharedProvider = sharedProvider;
exports.sharedProviderTotals = sharedProviderTotals;
exports.resetSharedProviders = resetSharedProviders;
const create_provider_1 = require("./create-provider");
const resilient_provider_1 = require("./resilient-provider");
const shared = new Map();
function sharedProvider(provider, limits = {}, prices, logger) {
    const key = JSON.stringify([provider, limits, prices ?? null]);
    let p = shared.get(key);
    if (!p) {
        p = new resilient_provider_1.ResilientProvider((0, create_provider_1.createProvider)(provider), limits, { prices, logger });
        shared.set(key, p);
    }
    return p;
}
/** Running totals of every provider used in this process (for progress logs). */
function sharedProviderTotals() {
    return [...shared.values()].map((p) => p.totals());
}
/** Forgets the shared providers (tests that reconfigure the same endpoint). */
function resetSharedProviders() {
    shared.clear();
}
//# sourceMappingURL=shared-providers.js.map