"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.postprocess = postprocess;
const caption_1 = require("./caption");
const sigmoid = (x) => 1 / (1 + Math.exp(-x));
/**
 * GroundingDINO's post-processing, as VALOR's mining uses it: keep a query when its best
 * token score passes the box threshold; its phrase is the decoded tokens scoring over
 * the text threshold (never [CLS], as get_phrases_from_posmap does); keep the box only if
 * that phrase is one of the prompt parts; convert cx,cy,w,h to absolute xyxy.
 */
function postprocess(p) {
    const byPhrase = new Map(p.parts.map((part, i) => [(0, caption_1.normalizePhrase)(part), p.labels[i]]));
    const T = Math.min(p.ids.length, p.logitWidth);
    const lastPhraseToken = Math.min(T, 255); // get_phrases_from_posmap's right_idx
    const out = [];
    for (let q = 0; q < p.numQueries; q++) {
        const row = q * p.logitWidth;
        let best = -Infinity;
        for (let t = 0; t < T; t++)
            best = Math.max(best, p.logits[row + t]);
        const score = sigmoid(best);
        if (!(score > p.boxThreshold))
            continue;
        const picked = [];
        for (let t = 1; t < lastPhraseToken; t++)
            if (sigmoid(p.logits[row + t]) > p.textThreshold)
                picked.push(p.ids[t]);
        if (picked.length === 0)
            continue;
        const label = byPhrase.get((0, caption_1.normalizePhrase)(p.decode(picked)));
        if (label === undefined)
            continue;
        const [cx, cy, w, h] = [p.boxes[q * 4], p.boxes[q * 4 + 1], p.boxes[q * 4 + 2], p.boxes[q * 4 + 3]];
        out.push({
            x1: (cx - w / 2) * p.width,
            y1: (cy - h / 2) * p.height,
            x2: (cx + w / 2) * p.width,
            y2: (cy + h / 2) * p.height,
            label,
            score,
        });
    }
    return out;
}
//# sourceMappingURL=postprocess.js.map