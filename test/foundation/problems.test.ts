import { expect, test } from 'bun:test';
import { createLogger } from '../../src/log.ts';
import { HttpProblem, problems } from '../../src/http/problem.ts';
import { testApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';

function expectProblem(res: Response, body: any, status: number, path: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(body).toMatchObject({ status, instance: path });
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(body.request_id).toBe(res.headers.get('x-request-id'));
}

describeEachMode('problem+json', (get) => {
  test('404 for an unknown route names method and path', async () => {
    const t = testApp(get());
    const { res, body } = await t.json('/no/such/thing', { method: 'DELETE' });
    expectProblem(res, body, 404, '/no/such/thing');
    expect(body.detail).toBe('no route for DELETE /no/such/thing');
  });

  test('500 for a throwing route: generic detail, the error logged with the request id', async () => {
    const lines: any[] = [];
    const t = testApp(get(), { log: createLogger('debug', (l) => lines.push(JSON.parse(l))) });
    t.app.get('/test/boom', () => {
      throw new Error('secret internals: password=hunter2');
    });
    const { res, body } = await t.json('/test/boom', { headers: { 'X-Request-Id': 'req-boom-1' } });
    expectProblem(res, body, 500, '/test/boom');
    expect(body.request_id).toBe('req-boom-1');
    expect(JSON.stringify(body)).not.toContain('hunter2');
    const logged = lines.find((l) => l.msg === 'unhandled error');
    expect(logged?.request_id).toBe('req-boom-1');
    expect(logged?.err?.message).toContain('secret internals');
    // The request line is still written, with the final status.
    expect(lines.find((l) => l.msg === 'request')?.status).toBe(500);
  });

  test('a thrown HttpProblem keeps its status, extra members and headers', async () => {
    const t = testApp(get());
    t.app.get('/test/teapot', () => {
      throw new HttpProblem(400, 'Bad Request', 'bad since', { errors: [{ path: 'since', message: 'not a date' }] }, { 'X-Extra': '1' });
    });
    t.app.get('/test/unavailable', () => {
      throw problems.unavailable();
    });
    const bad = await t.json('/test/teapot');
    expectProblem(bad.res, bad.body, 400, '/test/teapot');
    expect(bad.body.errors).toEqual([{ path: 'since', message: 'not a date' }]);
    expect(bad.res.headers.get('x-extra')).toBe('1');
    const down = await t.json('/test/unavailable');
    expectProblem(down.res, down.body, 503, '/test/unavailable');
    expect(down.res.headers.get('retry-after')).toBe('5');
  });

  test('an incoming X-Request-Id that is not a safe token is replaced', async () => {
    const t = testApp(get());
    const { res } = await t.json('/healthz', { headers: { 'X-Request-Id': 'bad id\twith spaces' } });
    expect(res.headers.get('x-request-id')).not.toContain(' ');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });
}, ['none']);
