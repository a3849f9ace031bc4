"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.silentLogger = void 0;
exports.createLogger = createLogger;
const pino_1 = __importDefault(require("pino"));
// Keys whose values are secrets anywhere in a log object; pino replaces them.
const REDACT = [
    'apiKey', '*.apiKey', '*.*.apiKey', 'api_key', '*.api_key', 'authorization', '*.authorization',
    '*.headers.authorization', 'password', '*.password', 'sasl.password', '*.sasl.password', 'token', '*.token',
];
function createLogger(name, level = process.env.VALOR_LOG_LEVEL ?? 'info') {
    return (0, pino_1.default)({ name, level, redact: { paths: REDACT, censor: '[redacted]' } }, pino_1.default.destination(2));
}
/** A logger that drops everything, for tests and library use. */
exports.silentLogger = (0, pino_1.default)({ level: 'silent' });
//# sourceMappingURL=logger.js.map