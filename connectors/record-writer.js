"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
//# sourceMappingURL=record-writer.js.map