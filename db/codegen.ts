// Regenerates src/db/schema.generated.ts from a scratch database migrated to
// the latest schema (`npm run db:codegen`); with --check, exits 1 when the
// committed file differs (`npm run db:codegen:check`, also a test).
import path from 'node:path';
import { generateSchemaTypes } from '../test/support/codegen.ts';

const target = path.resolve(import.meta.dir, '../src/db/schema.generated.ts');
const fresh = await generateSchemaTypes();
if (process.argv.includes('--check')) {
  const committed = await Bun.file(target).text();
  if (committed !== fresh) {
    console.error('src/db/schema.generated.ts is out of date: run `npm run db:codegen`');
    process.exit(1);
  }
  console.error('src/db/schema.generated.ts matches the migrations');
} else {
  await Bun.write(target, fresh);
  console.error(`wrote ${path.relative(process.cwd(), target)}`);
}
