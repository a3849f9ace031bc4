"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.LocalHttpServer = void 0;
exports.readBody = readBody;
exports.jsonSender = jsonSender;
// The HTTP plumbing both fake model servers share: listen on an ephemeral 127.0.0.1 port,
// and close without waiting for keep-alive or hung connections to time out.
const http = __importStar(require("node:http"));
class LocalHttpServer {
    server;
    /** Starts serving; returns the port. */
    async listen(handler) {
        this.server = http.createServer(handler);
        await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
        return this.server.address().port;
    }
    async close() {
        if (!this.server)
            return;
        const server = this.server;
        this.server = undefined;
        // The SDKs keep connections alive and hung requests hold theirs: drop them all.
        server.closeAllConnections();
        await new Promise((r) => server.close(() => r()));
    }
}
exports.LocalHttpServer = LocalHttpServer;
/** The request body, whole. */
async function readBody(req) {
    const chunks = [];
    for await (const c of req)
        chunks.push(c);
    return Buffer.concat(chunks);
}
/** A JSON reply function for one response; a client that went away gets nothing. */
function jsonSender(res, onStatus, contentType = 'application/json') {
    return (status, body, headers = {}) => {
        if (res.destroyed || res.writableEnded)
            return;
        onStatus(status);
        res.writeHead(status, { 'content-type': contentType, ...headers });
        res.end(JSON.stringify(body));
    };
}
//# sourceMappingURL=local-http.js.map