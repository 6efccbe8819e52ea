// The server entry point (`npm start`, the container's command). `meshmon serve` runs the same.
import { run } from './serve.command.ts';

const code = await run(process.argv.slice(2));
if (code !== 0) process.exit(code);
