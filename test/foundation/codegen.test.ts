import { expect, test } from 'bun:test';
import path from 'node:path';
import { generateSchemaTypes } from '../support/codegen.ts';

// A migration without regenerated types compiles against a schema that does
// not exist: run `npm run db:codegen` and commit the result.
test('src/db/schema.generated.ts matches the migrations (npm run db:codegen)', async () => {
  const committed = await Bun.file(path.resolve(import.meta.dir, '../../src/db/schema.generated.ts')).text();
  expect(await generateSchemaTypes()).toBe(committed);
}, 60_000);
