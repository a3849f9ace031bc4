"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.ImageStore = void 0;
// Images of the training set, materialised once each under a content address
// (`images/<sha256[0:2]>/<sha256>.<ext>`), so an image shared by many records, replays and
// sink instances is stored once, and a shard line's `filename` never dangles.
const errors_1 = require("../../core/errors");
const image_intake_1 = require("../../models/images/image-intake");
const EXT = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'image/tiff': 'tif', 'image/heif': 'heif', 'image/svg+xml': 'svg' };
class ImageStore {
    blobs;
    intake;
    /** Addresses known to exist, so repeated images cost no I/O. */
    known = new Set();
    constructor(blobs, images) {
        this.blobs = blobs;
        this.intake = new image_intake_1.ImageIntake(images);
    }
    /** The image's path relative to the dataset root, writing it if new. */
    async materialise(image, signal) {
        if (image.sha256 && image.mediaType && EXT[image.mediaType]) {
            const rel = address(image.sha256, EXT[image.mediaType]);
            if (this.known.has(rel) || (await this.blobs.exists(rel))) {
                this.known.add(rel);
                return rel;
            }
        }
        const loaded = await this.intake.load(image, signal);
        const ext = EXT[loaded.mediaType];
        if (!ext)
            throw new errors_1.ValidationError(`image ${loaded.source}: no file extension for media type ${loaded.mediaType}`);
        const rel = address(loaded.sha256, ext);
        if (!this.known.has(rel) && !(await this.blobs.exists(rel)))
            await this.blobs.writeAtomic(rel, loaded.bytes);
        this.known.add(rel);
        return rel;
    }
}
exports.ImageStore = ImageStore;
function address(sha256, ext) {
    return `images/${sha256.slice(0, 2)}/${sha256}.${ext}`;
}
//# sourceMappingURL=image-store.js.map