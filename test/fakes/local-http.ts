// The HTTP plumbing both fake model servers share: listen on an ephemeral 127.0.0.1 port,
// and close without waiting for keep-alive or hung connections to time out.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export class LocalHttpServer {
  private server?: http.Server;

  /** Starts serving; returns the port. */
  async listen(handler: http.RequestListener): Promise<number> {
    this.server = http.createServer(handler);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    // The SDKs keep connections alive and hung requests hold theirs: drop them all.
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** The request body, whole. */
export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A JSON reply function for one response; a client that went away gets nothing. */
export function jsonSender(res: http.ServerResponse, onStatus: (status: number) => void, contentType = 'application/json') {
  return (status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.destroyed || res.writableEnded) return;
    onStatus(status);
    res.writeHead(status, { 'content-type': contentType, ...headers });
    res.end(JSON.stringify(body));
  };
}
