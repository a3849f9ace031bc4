"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.RewardFormat = void 0;
class RewardFormat {
    name = 'rewards';
    async format(v) {
        // A record's id (or a group's id) identifies it: a replay writes it once.
        const signature = "rolloutId" in v ? `reward:${v.id}` : `group:${v.groupId}:${v.partial ? "partial" : "complete"}:${v.members.length}`;
        return { line: JSON.stringify(v), signature, versions: Object.entries(v.lineage.versions).map(([k, x]) => `${k}=${x}`) };
    }
}
exports.RewardFormat = RewardFormat;
//# sourceMappingURL=reward-format.js.map