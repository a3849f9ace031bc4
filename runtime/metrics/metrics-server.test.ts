import * as http from 'node:http';
import { Counter, Registry } from 'prom-client';
import { MetricsServer, startMetricsServer } from './metrics-server';
import { Readiness } from './readiness';

/** One request with Node's http client (no connection pooling that could outlive the test). */
function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('MetricsServer', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves every registry once on /metrics, liveness on /healthz and 404 elsewhere', async () => {
    const a = new Registry();
    const b = new Registry();
    new Counter({ name: 'valor_a_total', help: 'from registry a', registers: [a] }).inc(3);
    new Counter({ name: 'valor_b_total', help: 'from registry b', registers: [b] }).inc();
    server = await startMetricsServer({ registries: [a, b, a], readiness: new Readiness() });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const m = await get(`${server.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    expect(m.body).toContain('# HELP valor_a_total from registry a\n# TYPE valor_a_total counter\nvalor_a_total 3');
    expect(m.body).toContain('valor_b_total 1');
    expect(m.body.match(/# HELP valor_a_total/g)).toHaveLength(1);

    const h = await get(`${server.url}/healthz`);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toMatchObject({ status: 'alive' });
    expect((await get(`${server.url}/nope`)).status).toBe(404);
    expect((await get(`${server.url}/metrics`, 'POST')).status).toBe(405);
  });

  it('answers /ready 200 while every condition holds, else 503 listing the false ones with reasons', async () => {
    const ready = new Readiness();
    ready.set('node:verify:assigned', true, 'partitions 0, 1');
    server = await startMetricsServer({ registries: [new Registry()], readiness: ready });
    const ok = await get(`${server.url}/ready`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'ready', failing: [] });

    ready.set('node:verify:flowing', false, 'paused: provider gemini-vertex/gemini-2.5-flash is down (circuit open)');
    ready.probe('budget:daily', () => ({ ok: false, reason: 'daily budget of $50 spent' }));
    const down = await get(`${server.url}/ready`);
    expect(down.status).toBe(503);
    const body = JSON.parse(down.body);
    expect(body.status).toBe('not ready');
    expect(body.failing).toEqual([
      { condition: 'budget:daily', reason: 'daily budget of $50 spent' },
      { condition: 'node:verify:flowing', reason: 'paused: provider gemini-vertex/gemini-2.5-flash is down (circuit open)', since: expect.any(String) },
    ]);
    expect(body.conditions).toHaveLength(3); // the true one is listed too
  });

  it('closes promptly with a kept-alive connection open, and then refuses connections', async () => {
    server = new MetricsServer({ registries: [new Registry()], readiness: new Readiness(), port: 0 });
    const url = await server.start();
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(`${url}/healthz`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    await server.close();
    server = undefined;
    agent.destroy();
    await expect(get(`${url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('fails to start on a port in use, naming the error', async () => {
    server = await startMetricsServer({ registries: [new Registry()], readiness: new Readiness() });
    const port = Number(new URL(server.url).port);
    await expect(startMetricsServer({ registries: [new Registry()], readiness: new Readiness(), port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
