import { expect, test } from 'bun:test';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';

describeEachMode('GET /healthz', (get, mode) => {
  test('reports the database mode and version', async () => {
    const t = testApp(get());
    const { status, body } = await t.json('/healthz');
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.database.up).toBe(true);
    expect(body.database.mode).toBe(mode);
    expect(typeof body.database.version).toBe('string');
    expect(body.version).toBe('test');
  });

  test('unknown routes are 404 problem+json with a request id', async () => {
    const t = testApp(get());
    const { status, body, res } = await t.json('/nope');
    expect(status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(body.status).toBe(404);
    expect(body.request_id).toBeTruthy();
  });
});
