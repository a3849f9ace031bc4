"use strict";
// Errors say what went wrong and whether trying again could help (as kafkajs errors do),
// so the runtimes can choose between retry and the dead-letter topic.
Object.defineProperty(exports, "__esModule", { value: true });
exports.TopologyError = exports.ConfigError = exports.ProcessingError = exports.ValidationError = exports.DecodeError = exports.ValorError = void 0;
exports.isRetriable = isRetriable;
exports.errorClass = errorClass;
exports.errorMessage = errorMessage;
class ValorError extends Error {
    retriable;
    constructor(message, opts = {}) {
        super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
        this.name = new.target.name;
        this.retriable = opts.retriable ?? false;
    }
}
exports.ValorError = ValorError;
/** Bytes that are not a Confluent-framed Avro value of the topic's type. */
class DecodeError extends ValorError {
}
exports.DecodeError = DecodeError;
/** A decoded value or an output that breaks its schema or the processor's rules. */
class ValidationError extends ValorError {
}
exports.ValidationError = ValidationError;
/** A processor failed on a record; `retriable` says whether another attempt may succeed. */
class ProcessingError extends ValorError {
}
exports.ProcessingError = ProcessingError;
/** Bad configuration: the message names the field. Raised at start-up, never per record. */
class ConfigError extends ValorError {
}
exports.ConfigError = ConfigError;
/** A topology that does not hold together (dangling topics, type mismatches). */
class TopologyError extends ValorError {
    problems;
    constructor(problems) {
        super(`invalid topology:\n  - ${problems.join('\n  - ')}`);
        this.problems = problems;
    }
}
exports.TopologyError = TopologyError;
function isRetriable(err) {
    if (err instanceof ValorError)
        return err.retriable;
    // Network-level failures from fetch/http clients are worth another try.
    const code = err?.code;
    return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'ECONNREFUSED' || code === 'EAI_AGAIN';
}
function errorClass(err) {
    if (err instanceof Error)
        return err.name || err.constructor.name;
    return typeof err;
}
function errorMessage(err) {
    if (err instanceof Error)
        return err.message;
    return String(err);
}
//# sourceMappingURL=errors.js.map