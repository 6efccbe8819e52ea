// The server entry point (`npm start`, the container's command). `meshmon serve` runs the same.
import { runServe } from './serve.ts';

await runServe();
